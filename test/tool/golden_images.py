#!/usr/bin/env python3
"""The golden images of test/golden/, read by the ferrite command forever.

    golden_images.py FERRITE GOLDEN_DIR DECODER

Exports a copy of every committed image (sealed ones with the committed key
or the documented passphrase) and compares the JSON with the expected
contents committed beside it; each uniform image is also opened without
--geometry (detection). Then `ferrite dump --json` of each image must be
exactly what DECODER (tools/ferrite_dump.py, written from docs/FORMAT.md
alone) prints for it. The command works on copies in a scratch directory
(it takes a lock file beside the image it opens), and the committed
directory is checked to be exactly as it was.
Prints one line per image and exits non-zero on any difference.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

PRESETS = ['stm32f4-4x16k+64k', 'stm32f4-2x16k', 'nrf52-4x4k', 'esp32-4k']
PASSPHRASE = 'ferrite golden passphrase'


def main():
    ferrite, golden, decoder = sys.argv[1], sys.argv[2], sys.argv[3]
    before = {f: hashlib.sha256(open(os.path.join(golden, f), 'rb').read()).hexdigest()
              for f in os.listdir(golden)}
    images = sorted(f[:-4] for f in before if f.endswith('.img'))
    failures = 0
    if len(images) < 9:
        print('golden: expected at least 9 images, found {}'.format(len(images)))
        failures += 1
    scratch = tempfile.mkdtemp(prefix='ferrite-golden-')
    for name in images:
        shutil.copyfile(os.path.join(golden, name + '.img'), os.path.join(scratch, name + '.img'))
        preset = next(p for p in PRESETS if name.endswith('-' + p))
        options = []
        if name.startswith('sealed-key-'):
            options = ['--key-file', os.path.join(golden, 'golden.key')]
        elif name.startswith('sealed-passphrase-'):
            options = ['--passphrase-env', 'FERRITE_GOLDEN_PASSPHRASE']
        env = dict(os.environ, FERRITE_GOLDEN_PASSPHRASE=PASSPHRASE)
        expected = json.load(open(os.path.join(golden, name + '.json')))
        runs = [['--geometry', preset]]
        if '+' not in preset:
            runs.append([])  # detected from the headers
        for geometry in runs:
            r = subprocess.run([ferrite, 'export', os.path.join(scratch, name + '.img')] + geometry + options,
                               capture_output=True, text=True, env=env)
            how = 'with --geometry' if geometry else 'detected'
            if r.returncode != 0:
                print('golden {} ({}): exit {}: {}'.format(name, how, r.returncode, r.stderr.strip()))
                failures += 1
            elif json.loads(r.stdout) != expected:
                print('golden {} ({}): export differs from {}.json'.format(name, how, name))
                failures += 1
            else:
                print('golden {} ({}): {} keys as expected'.format(name, how, len(expected['keys'])))
        image = os.path.join(scratch, name + '.img')
        dumped = subprocess.run([ferrite, 'dump', '--json', '--geometry', preset, image], capture_output=True, text=True)
        decoded = subprocess.run([sys.executable, decoder, '--json', '--geometry', preset, image],
                                 capture_output=True, text=True)
        if dumped.returncode != 0 or decoded.returncode != 0:
            print('golden {} (dump): ferrite dump exit {}, decoder exit {}: {}{}'.format(
                name, dumped.returncode, decoded.returncode, dumped.stderr.strip(), decoded.stderr.strip()))
            failures += 1
        elif dumped.stdout != decoded.stdout:
            print('golden {} (dump): ferrite dump --json and the decoder disagree'.format(name))
            failures += 1
        else:
            records = sum(len(s['records'] or []) for s in json.loads(dumped.stdout)['sectors'])
            print('golden {} (dump): the decoder agrees on {} records'.format(name, records))
    shutil.rmtree(scratch)
    after = {f: hashlib.sha256(open(os.path.join(golden, f), 'rb').read()).hexdigest()
             for f in os.listdir(golden)}
    if after != before:
        print('golden: the directory changed while the images were read')
        failures += 1
    print('golden images: {} images, {} failures'.format(len(images), failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
