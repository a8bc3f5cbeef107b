#!/usr/bin/env python3
"""dump_differential.py DUMP_IMAGES FERRITE_DUMP_PY

campaign dump-differential: DUMP_IMAGES (test/tool/dump_images.cpp) writes
images the engine made, each with the JSON `ferrite dump --json` prints for
it; tools/ferrite_dump.py, written from docs/FORMAT.md alone, decodes each
image again. Its output must be the same text byte for byte. A disagreement
means FORMAT.md (or docs/DUMP.md) does not say what the engine does: the
document is fixed, then the decoder from it.

The number of images scales with FERRITE_CAMPAIGN_SCALE (default 1: 240).
FERRITE_DUMP_KEEP=DIR keeps the images in DIR.
"""

import json
import os
import subprocess
import sys
import tempfile


def first_difference(a, b, path="$"):
    if type(a) != type(b):
        return "%s: %r != %r" % (path, a, b)
    if isinstance(a, dict):
        if list(a) != list(b):
            return "%s: keys %s != %s" % (path, list(a), list(b))
        for k in a:
            d = first_difference(a[k], b[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return "%s: %d entries != %d" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    return None if a == b else "%s: %r != %r" % (path, a, b)


def tally(seen, dump):
    """What the images hold, so that a run shows what it compared."""
    def add(what, n=1):
        seen[what] = seen.get(what, 0) + n
    add("sealed images" if dump["store"] and dump["store"]["sealed"] else "plain images")
    for s in dump["sectors"]:
        add("sectors " + s["state"])
        for r in s["records"] or []:
            if r["type"] == "damage":
                add("damage " + r["why"] + " " + r["verdict"])
            elif r["form"] == "compact":
                add("compact " + r["kind"])
            elif r["kind"] == "META":
                add("META " + str(r["meta"]))
            elif r["txn"] == "uncommitted":
                add("uncommitted " + r["kind"])
            else:
                add(r["kind"])
        if s["end"]:
            add("end " + s["end"]["state"])


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    generator, decoder = argv
    scale = float(os.environ.get("FERRITE_CAMPAIGN_SCALE", "1") or "1")
    count = max(24, int(240 * scale))
    keep = os.environ.get("FERRITE_DUMP_KEEP")
    with tempfile.TemporaryDirectory(prefix="ferrite-dump-") as scratch:
        out_dir = keep or scratch
        os.makedirs(out_dir, exist_ok=True)
        made = subprocess.run([generator, out_dir, str(count)], capture_output=True, text=True)
        if made.returncode != 0:
            print("dump_images failed (%d): %s" % (made.returncode, made.stderr), file=sys.stderr)
            return 1
        disagreements = 0
        shown = 0
        seen = {}
        for n in range(count):
            base = os.path.join(out_dir, "%04d" % n)
            with open(base + ".spec") as f:
                spec = f.read()
            with open(base + ".json") as f:
                expected = f.read()
            tally(seen, json.loads(expected))
            ran = subprocess.run([sys.executable, decoder, base + ".img", "--geometry", spec, "--json"],
                                 capture_output=True, text=True)
            if ran.returncode not in (0, 1) or ran.stdout != expected:
                disagreements += 1
                if shown < 5:
                    shown += 1
                    with open(base + ".txt") as f:
                        story = f.read()
                    why = "exit %d: %s" % (ran.returncode, ran.stderr.strip()[-400:])
                    if ran.returncode in (0, 1):
                        try:
                            why = first_difference(json.loads(expected), json.loads(ran.stdout)) or "same JSON, other text"
                        except ValueError as e:
                            why = "not JSON: %s" % e
                    print("image %d (%s): %s" % (n, story, why))
            else:
                want = 1 if '"clean":false' in expected else 0
                if ran.returncode != want:
                    disagreements += 1
                    print("image %d: exit %d, the dump says clean=%s" % (n, ran.returncode, want == 0))
    print("covered: " + ", ".join("%s %d" % kv for kv in sorted(seen.items())))
    print("campaign dump-differential: %d images, %d disagreements" % (count, disagreements))
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
