#!/usr/bin/env python3
"""dump_differential.py DUMP_IMAGES FERRITE_DUMP_PY

campaign dump-differential: DUMP_IMAGES (test/tool/dump_images.cpp) writes
images the engine made, each with the JSON `ferrite dump --json` prints for
it; tools/ferrite_dump.py, written from docs/FORMAT.md alone, decodes each
image again. Its output must be the same text byte for byte. For every plain
image the engine mounts, the keys and values the decoder's walk replays (by
FORMAT.md §5: live sectors in log order, verified records, committed batches)
must be what the engine reads. A disagreement means FORMAT.md (or
docs/DUMP.md) does not say what the engine does: the document is fixed, then
the decoder from it.

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


def replayed_state(dump):
    """The keys and values FORMAT.md §5 says a mount reads, from the decoder's
    walk: the live sectors in log order, every record that verifies, batches
    only with their commit, damaged bytes skipped. Lines as in NNNN.state."""
    state = {}
    for s in dump["sectors"]:
        if s["state"] != "live":
            continue
        # A SKIP that closes a bad region as a torn write (its damage just
        # before it reads `torn`) voids [from, SKIP): nothing there applies.
        voided = []
        for before, r in zip([None] + s["records"][:-1], s["records"]):
            if (r["type"] == "record" and r["meta"] == "SKIP" and r["fields"] and before
                    and before["type"] == "damage" and before["verdict"] == "torn"):
                voided.append((r["fields"]["from"], r["offset"]))
        for r in s["records"]:
            if r["type"] != "record":
                continue
            if any(lo <= r["offset"] < hi for lo, hi in voided):
                continue
            kind = r["kind"]
            if r["txn"] == "uncommitted" or kind in ("META", "TXN_COMMIT", "TAMPERED"):
                continue
            if kind in ("DELETE", "TXN_DELETE"):
                state.pop(r["key_hex"], None)
            elif kind == "TYPED_PUT":
                value = r["value_hex"]
                state[r["key_hex"]] = "%d %s" % (int(value[:2], 16), value[2:])
            else:
                state[r["key_hex"]] = "0 " + r["value_hex"]
    return sorted("%s %s" % kv for kv in state.items())


def add(seen, what, n=1):
    seen[what] = seen.get(what, 0) + n


def tally(seen, dump):
    """What the images hold, so that a run shows what it compared."""
    def add_one(what):
        add(seen, what)
    add_one("sealed images" if dump["store"] and dump["store"]["sealed"] else "plain images")
    for s in dump["sectors"]:
        add_one("sectors " + s["state"])
        for r in s["records"] or []:
            if r["type"] == "damage":
                add_one("damage " + r["why"] + " " + r["verdict"])
            elif r["form"] == "compact":
                add_one("compact " + r["kind"])
            elif r["kind"] == "META":
                add_one("META " + str(r["meta"]))
            elif r["txn"] == "uncommitted":
                add_one("uncommitted " + r["kind"])
            else:
                add_one(r["kind"])
        if s["end"]:
            add_one("end " + s["end"]["state"])


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
        states = 0
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
                continue
            want = 1 if '"clean":false' in expected else 0
            if ran.returncode != want:
                disagreements += 1
                print("image %d: exit %d, the dump says clean=%s" % (n, ran.returncode, want == 0))
                continue
            if not os.path.exists(base + ".state"):
                continue
            with open(base + ".state") as f:
                engine = f.read().split("\n")[:-1]
            if engine and engine[0].startswith("mount "):
                add(seen, "engine refused: " + engine[0])
                continue
            states += 1
            mine = replayed_state(json.loads(ran.stdout))
            if sorted(engine) != mine:
                disagreements += 1
                if shown < 5:
                    shown += 1
                    with open(base + ".txt") as f:
                        story = f.read()
                    only_engine = sorted(set(engine) - set(mine))[:3]
                    only_walk = sorted(set(mine) - set(engine))[:3]
                    print("image %d (%s): the engine reads %s, the walk replays %s" % (
                        n, story, only_engine, only_walk))
    print("covered: " + ", ".join("%s %d" % kv for kv in sorted(seen.items())))
    print("engine states compared with the decoder's replay: %d" % states)
    print("campaign dump-differential: %d images, %d disagreements" % (count, disagreements))
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
