#!/usr/bin/env python3
"""bench/figures.py — bench/README.md's figures come from the published results.

    figures.py update BENCH_DIR
    figures.py check  BENCH_DIR [--bench FERRITE_BENCH] [--doc-bench FERRITE_DOC_BENCH]
                      [--large-bench FERRITE_LARGE_BENCH]

BENCH_DIR holds README.md and the results `scripts/bench --publish` writes
(results.json, results.md, doc_results.md). The README marks each figure it
quotes from results.json:

    <!--fig W1-2x16k.ram_bytes-->2,888<!--/fig-->

(run label, then field; `_meta.commit` and the like for the `_` keys), and
holds copies of the generated tables between `<!--results.md main-->` (the
device and host tables), `<!--results.md crypto-->` (the crypto section) or
`<!--doc_results.md-->` (or `<!--large_results.md-->`, ferrite-large-bench's
tables; its figures are marked `large:runs[L-16x16k].put_us_max`) and the
matching `<!--/results.md-->` / `<!--/doc_results.md-->` /
`<!--/large_results.md-->`. `update` (run by `scripts/bench --publish`)
rewrites them from the published results. `check` fails when a marked
figure or a copied table differs from them, and, with --bench, when the
published device figures differ from what the current code produces: it
runs ferrite-bench's workloads again (same mode and size, no host
comparisons) and compares every figure of the simulated flash (bytes
programmed and read, erases, GC counts) and of its device-time model, which
are exact and repeatable; with --doc-bench, the same for the document
bench's device part; with --large-bench, every figure of
large_results.json (all of them device figures) against a fresh run of
ferrite-large-bench in the published mode. Host timings, and the RAM and frame sizes (they
follow the compiler's optimisation: the published ones come from the
release build), are not compared.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

FIG = re.compile(r'<!--fig ([^ >]+)-->(.*?)<!--/fig-->')
BLOCK = re.compile(r'(<!--(results\.md|doc_results\.md|large_results\.md)(?: (\w+))?-->\n)(.*?)(<!--/\2-->)', re.S)
CRYPTO_HEADING = '\n### Crypto and compression\n'


def block_text(bench_dir, name, part):
    """The generated text a README block copies."""
    text = load(os.path.join(bench_dir, name))
    if name in ('doc_results.md', 'large_results.md'):
        return text
    i = text.find(CRYPTO_HEADING)
    if part == 'main':
        return text if i < 0 else text[:i + 1]
    if part == 'crypto':
        return '' if i < 0 else text[i + len(CRYPTO_HEADING):].lstrip('\n')
    raise KeyError('{} {}'.format(name, part))


# Fields of a device run that the simulated flash and its timing model decide.
DEVICE_FIELDS = ('sectors', 'sector_size', 'program_unit', 'value_size', 'indexed', 'maintain', 'puts',
                 'bytes_programmed', 'write_amplification', 'update_us_mean', 'update_us_p50', 'update_us_p99',
                 'update_us_max', 'updates_over_5ms', 'erases', 'erase_min', 'erase_max', 'sector_erases',
                 'lifetime_erase_min', 'lifetime_erase_max', 'lifetime_erases', 'get_bytes_read', 'get_us_mean',
                 'startup_us', 'startup_bytes_read', 'startup_read_ops', 'put_bytes_read', 'gc_runs',
                 'records_copied')


def matches(entry, selector):
    """A list entry by its label (or codec, engine), or by `key=value,...`."""
    if not isinstance(entry, dict):
        return False
    if selector.startswith('#'):
        return False  # by position: lookup() handles it
    if '=' not in selector:
        return selector in (entry.get('label'), entry.get('codec'), entry.get('engine'))
    for cond in selector.split(','):
        key, _, value = cond.partition('=')
        if str(entry.get(key)) != value:
            return False
    return True


def lookup(results, path):
    """A value by its path: `W1-2x16k.ram_bytes`, `_meta.commit`,
    `_crypto.w1[C1-xchacha-2x16k].x_plain.erases` (a list entry by label),
    `doc:device[indexes=1,maintain=False].insert.device_us_mean` (doc: the
    document bench's doc_results.json; a list entry by its fields),
    `doc:host.rows[#1].ferrite_over_insert` (a list entry by position)."""
    node = results
    for prefix in ('doc:', 'large:'):
        if path.startswith(prefix):
            node = results.get(prefix, {})
            path = path[len(prefix):]
    for part in path.split('.'):
        m = re.fullmatch(r'([^\[]+)\[([^\]]+)\]', part)
        key, label = (m.group(1), m.group(2)) if m else (part, None)
        if not isinstance(node, dict) or key not in node:
            raise KeyError(path)
        node = node[key]
        if label is not None:
            if label.startswith('#') and label[1:].isdigit():
                node = node[int(label[1:])] if int(label[1:]) < len(node) else None
            else:
                node = next((e for e in node if matches(e, label)), None)
            if node is None:
                raise KeyError(path)
    if isinstance(node, (dict, list)):
        raise KeyError(path)
    return node


def render(value, written):
    """The value as the README writes it: thousands separators when the
    written figure has them (or is >= 10,000), as many decimals as written."""
    if isinstance(value, str):
        return value
    decimals = len(written.split('.')[1]) if '.' in written else 0
    if isinstance(value, float) or decimals:
        text = '{:,.{}f}'.format(value, decimals)
    else:
        text = '{:,}'.format(value)
    if ',' not in written and abs(value) < 10000:
        text = text.replace(',', '')
    return text


def load(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def load_results(bench_dir):
    res = json.loads(load(os.path.join(bench_dir, 'results.json')))
    doc = os.path.join(bench_dir, 'doc_results.json')
    if os.path.exists(doc):
        res['doc:'] = json.loads(load(doc))
    large = os.path.join(bench_dir, 'large_results.json')
    if os.path.exists(large):
        res['large:'] = json.loads(load(large))
    return res


def update(bench_dir):
    readme = os.path.join(bench_dir, 'README.md')
    text = load(readme)
    res = load_results(bench_dir)

    def fig(m):
        return '<!--fig {}-->{}<!--/fig-->'.format(m.group(1), render(lookup(res, m.group(1)), m.group(2)))
    text, n = FIG.subn(fig, text)
    text, blocks = BLOCK.subn(lambda m: m.group(1) + block_text(bench_dir, m.group(2), m.group(3)) + m.group(5),
                              text)
    with open(readme, 'w', encoding='utf-8') as f:
        f.write(text)
    print('figures: {} figures and {} tables of {} updated'.format(n, blocks, readme))


def check(bench_dir, bench=None, doc_bench=None, large_bench=None):
    readme = os.path.join(bench_dir, 'README.md')
    results = os.path.join(bench_dir, 'results.json')
    text = load(readme)
    res = load_results(bench_dir)
    failures = []
    n = 0
    for m in FIG.finditer(text):
        n += 1
        try:
            want = render(lookup(res, m.group(1)), m.group(2))
        except KeyError:
            failures.append('{}: no such figure in the published results'.format(m.group(1)))
            continue
        if m.group(2) != want:
            failures.append('{}: README says {}, the published results say {}'.format(m.group(1), m.group(2), want))
    blocks = 0
    for m in BLOCK.finditer(text):
        blocks += 1
        if m.group(4) != block_text(bench_dir, m.group(2), m.group(3)):
            failures.append('the README block {}is not the published {}'.format(m.group(1).strip(), m.group(2)))
    print('figures: {} marked figures and {} tables of README.md checked against the published results'.format(
        n, blocks))
    if n == 0 or blocks == 0:
        failures.append('README.md has no marked figure or no copied table')

    if bench:
        meta = res['_meta']
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'results.json')
            cmd = [bench, '--no-host', '--json', out, '--updates', str(meta['updates'])]
            if meta.get('mode') == 'quick':
                cmd.append('--quick')
            print('figures: $ ' + ' '.join(cmd), flush=True)
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if p.returncode != 0:
                print(p.stdout[-4000:])
                sys.exit('figures: ferrite-bench failed (exit {})'.format(p.returncode))
            now = json.loads(load(out))
        compared = 0
        for label, run in res.items():
            if label.startswith(('_', 'doc:', 'large:')) or 'error' in run:
                continue
            if label not in now:
                failures.append('{}: the current ferrite-bench has no such run'.format(label))
                continue
            for field in DEVICE_FIELDS:
                if field not in run:
                    continue
                compared += 1
                if now[label].get(field) != run[field]:
                    failures.append('{}.{}: published {}, the current code gives {}'.format(
                        label, field, run[field], now[label].get(field)))
        # The sealed runs: sizes, counts and device time do not depend on the
        # random salts and nonces.
        for group in ('w1', 'docs'):
            for run in res.get('_crypto', {}).get(group, []):
                if 'label' not in run or 'error' in run or 'skipped' in run:
                    continue
                fresh = next((r for r in now.get('_crypto', {}).get(group, []) if r.get('label') == run['label']), None)
                if fresh is None:
                    failures.append('_crypto {}: the current ferrite-bench has no such run'.format(run['label']))
                    continue
                for field in DEVICE_FIELDS + ('bytes_per_put', 'compressed_share', 'frame_ratio'):
                    if field in run:
                        compared += 1
                        if fresh.get(field) != run[field]:
                            failures.append('_crypto {}.{}: published {}, the current code gives {}'.format(
                                run['label'], field, run[field], fresh.get(field)))
        print('figures: {} device figures of {} runs compared with a fresh run (commit {} published)'.format(
            compared, sum(1 for k in res if not k.startswith(('_', 'doc:', 'large:'))), meta.get('commit')))
        if compared == 0:
            failures.append('no device figure compared')
    if doc_bench and 'doc:' in res:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'doc_results.json')
            cmd = [doc_bench, '--only', 'device', '--json', out]
            if res['doc:'].get('_meta', {}).get('mode') == 'quick':
                cmd.append('--quick')
            print('figures: $ ' + ' '.join(cmd), flush=True)
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if p.returncode != 0:
                print(p.stdout[-4000:])
                sys.exit('figures: ferrite-doc-bench failed (exit {})'.format(p.returncode))
            now = json.loads(load(out))
        # The device part: every figure of the simulated flash and its timing model.
        published, fresh = res['doc:'].get('device', []), now.get('device', [])
        compared = 0
        if len(published) != len(fresh):
            failures.append('doc device runs: {} published, {} now'.format(len(published), len(fresh)))
        for a, b in zip(published, fresh):
            where = 'doc:device[indexes={},maintain={}]'.format(a.get('indexes'), a.get('maintain'))
            for key, value in a.items():
                pairs = value.items() if isinstance(value, dict) else [(None, value)]
                for sub, v in pairs:
                    w = b.get(key, {}).get(sub) if sub is not None and isinstance(b.get(key), dict) else b.get(key)
                    compared += 1
                    if v != w:
                        failures.append('{}.{}{}: published {}, the current code gives {}'.format(
                            where, key, '.' + sub if sub else '', v, w))
        print('figures: {} document device figures compared with a fresh ferrite-doc-bench run'.format(compared))
    if large_bench and 'large:' in res:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'large_results.json')
            published = res['large:']
            cmd = [large_bench, '--json', out]
            if published.get('_meta', {}).get('mode') == 'quick':
                cmd.append('--quick')
            print('figures: $ ' + ' '.join(cmd), flush=True)
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if p.returncode != 0:
                print(p.stdout[-4000:])
                sys.exit('figures: ferrite-large-bench failed (exit {})'.format(p.returncode))
            now = json.loads(load(out))
        compared = 0
        for group in ('fill', 'runs'):
            fresh = {r['label']: r for r in now.get(group, [])}
            for run in published.get(group, []):
                if run['label'] not in fresh:
                    failures.append('large:{}[{}]: the current ferrite-large-bench has no such run'.format(
                        group, run['label']))
                    continue
                for key, value in run.items():
                    compared += 1
                    if fresh[run['label']].get(key) != value:
                        failures.append('large:{}[{}].{}: published {}, the current code gives {}'.format(
                            group, run['label'], key, value, fresh[run['label']].get(key)))
        print('figures: {} large-store figures compared with a fresh ferrite-large-bench run'.format(compared))
        if compared == 0:
            failures.append('no large-store figure compared')
    if failures:
        print('\n'.join('FAIL: ' + f for f in failures[:60]))
        sys.exit('figures: {} differences; `scripts/bench --publish` republishes the results and the README '
                 'figures'.format(len(failures)))
    print('figures: OK')


def main():
    args = sys.argv[1:]
    bench = doc_bench = None
    if '--bench' in args:
        i = args.index('--bench')
        bench = args[i + 1]
        del args[i:i + 2]
    if '--doc-bench' in args:
        i = args.index('--doc-bench')
        doc_bench = args[i + 1]
        del args[i:i + 2]
    large_bench = None
    if '--large-bench' in args:
        i = args.index('--large-bench')
        large_bench = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2 or args[0] not in ('update', 'check'):
        sys.exit(__doc__)
    if args[0] == 'update':
        update(args[1])
    else:
        check(args[1], bench=bench, doc_bench=doc_bench, large_bench=large_bench)


if __name__ == '__main__':
    main()
