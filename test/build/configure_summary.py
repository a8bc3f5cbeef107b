#!/usr/bin/env python3
"""Build proof: the configure summary names every part and why one is off,
and scripts/test refuses a build that would test nothing (or leave out the C
API test).

In a scratch copy of the tree:

 1. a full configuration: the summary lists every part of the library
    (engine, crypto, docstore JSON, readable errors, host ports) and every
    program (tests, C API test, build proofs, bench, demo, fuzz), each
    answered `yes...` or `no: <reason>`;
 2. -Dcrypto=disabled -Dtests=disabled -Dbench=false -Ddemo=false: each of
    them says `no:` with the option that turned it off, and the C API test
    says it is registered with the tests;
 3. no C compiler (CC names a missing program, a native file without `c =`):
    the configure step still succeeds, and the summary says the C API test
    is off and why;
 4. scripts/test (with scripts/setup made a no-op: no package installs)
    exits non-zero, before building anything, with its message, when
    a. Catch2 cannot be found (pkg-config and CMake cannot see it),
    b. the build registers no test programs,
    c. there is no C compiler.
"""
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
import buildproof as bp  # noqa: E402

LIBRARY = ['engine, transactions, docstore', 'profile, features', 'crypto (ferrite.crypto)', 'docstore JSON text',
           'readable errors (fmt)', 'host ports (file, posix)', 'ports sim, deferred, stm32f4']
PROGRAMS = ['tests', 'C API test (capi)', 'build proofs (suite build)', 'bench', 'demo', 'fuzz', 'ferrite tool']


def configure(src, build, native, extra=(), env=None):
    """meson setup; returns {summary key: value} and the whole output."""
    nf = native if os.path.isabs(native) else os.path.join(src, native)
    cmd = ['meson', 'setup', build, src, '--native-file', nf] + list(extra)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    bp.log('$ {}{}: exit {}'.format('CC={} '.format(env['CC']) if env and 'CC' in env else '',
                                    ' '.join(cmd[4:]) or '(defaults)', p.returncode))
    if p.returncode != 0:
        print(p.stdout[-6000:])
        bp.fail('configure failed')
    summary = {}
    for line in p.stdout.splitlines():
        if line.strip() == 'User defined options':
            break
        m = re.match(r'^\s{4}(\S.*?)\s*: (.*)$', line)
        if m:
            summary[m.group(1)] = m.group(2).strip()
    return summary, p.stdout


def expect(summary, key, pattern, text):
    value = summary.get(key)
    if value is None or not re.match(pattern, value):
        print(text[-6000:])
        bp.fail('summary "{}": expected /{}/, got {!r}'.format(key, pattern, value))
    bp.log('  {}: {}'.format(key, value))


def scripts_test(src, env, needle, label):
    p = subprocess.run([os.path.join(src, 'scripts', 'test'), '--no-suite', 'build'], cwd=src,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    bp.log('$ scripts/test ({}): exit {}'.format(label, p.returncode))
    if p.returncode == 0:
        print(p.stdout[-6000:])
        bp.fail('scripts/test passed with ' + label)
    if needle not in p.stdout:
        print(p.stdout[-6000:])
        bp.fail('scripts/test ({}): no "{}" in its output'.format(label, needle))
    if os.path.exists(os.path.join(src, 'build', 'libferrite.a')):
        bp.fail('scripts/test ({}): it built the library before refusing'.format(label))
    bp.log('  ' + next(l for l in p.stdout.splitlines() if needle in l).strip())


def main():
    args = bp.parse_args(__doc__)
    with bp.Scratch('summary', args.keep) as scratch:
        src = os.path.join(scratch, 'src')
        bp.copy_tree(args.source_root, src)

        # -- 1. everything the machine allows --------------------------------
        full, text = configure(src, os.path.join(scratch, 'b-full'), args.native_file,
                               ['-Dtests=enabled', '-Dfuzz=false'])
        for key in LIBRARY + PROGRAMS:
            expect(full, key, r'(yes|no: \S)', text)
        expect(full, 'tests', r'yes: Catch2 ', text)
        expect(full, 'C API test (capi)', r'yes: ', text)
        expect(full, 'fuzz', r'no: -Dfuzz=true builds', text)

        # -- 2. parts turned off by options -----------------------------------
        off, text = configure(src, os.path.join(scratch, 'b-off'), args.native_file,
                              ['-Dcrypto=disabled', '-Dtests=disabled', '-Dbench=false', '-Ddemo=false'])
        expect(off, 'crypto (ferrite.crypto)', r'no: -Dcrypto=disabled$', text)
        expect(off, 'tests', r'no: -Dtests=disabled$', text)
        expect(off, 'bench', r'no: -Dbench=false$', text)
        expect(off, 'demo', r'no: -Ddemo=false$', text)
        expect(off, 'C API test (capi)', r'no: registered with the tests$', text)
        expect(off, 'build proofs (suite build)', r'no: ', text)
        expect(off, 'engine, transactions, docstore', r'yes$', text)

        # -- 3. no C compiler -------------------------------------------------
        native = os.path.join(src, args.native_file)
        no_c = os.path.join(scratch, 'no-c.ini')
        with open(no_c, 'w') as f:
            f.write(re.sub(r'^c\s*=.*\n', '', open(native).read(), flags=re.M))
        env_no_c = dict(os.environ, CC=os.path.join(scratch, 'no-such-cc'))
        no_cc, text = configure(src, os.path.join(scratch, 'b-no-c'), no_c, ['-Dtests=enabled'], env_no_c)
        expect(no_cc, 'tests', r'yes: ', text)
        expect(no_cc, 'C API test (capi)', r'no: no C compiler found', text)

        # -- 4. scripts/test refuses ------------------------------------------
        with open(os.path.join(src, 'scripts', 'setup'), 'w') as f:
            f.write('#!/bin/sh\n# the proof installs nothing\nexit 0\n')
        os.chmod(os.path.join(src, 'scripts', 'setup'), 0o755)
        env = dict(os.environ)
        env.pop('FERRITE_JOBS', None)

        # a. Catch2 out of sight: pkg-config sees every .pc but catch2's, CMake
        #    is not usable.
        pc_dir = os.path.join(scratch, 'pkgconfig')
        os.makedirs(pc_dir)
        pc_path = bp.run(['pkg-config', '--variable', 'pc_path', 'pkg-config'], quiet=True).strip()
        for d in pc_path.split(':') + os.environ.get('PKG_CONFIG_PATH', '').split(':'):
            if d and os.path.isdir(d):
                for f in os.listdir(d):
                    target = os.path.join(pc_dir, f)
                    if f.endswith('.pc') and not f.startswith('catch2') and not os.path.exists(target):
                        os.symlink(os.path.join(d, f), target)
        bp.edit(native, r'\[binaries\]\n', "[binaries]\ncmake = 'false'\n")
        env_a = dict(env, PKG_CONFIG_LIBDIR=pc_dir)
        env_a.pop('PKG_CONFIG_PATH', None)
        scripts_test(src, env_a, 'catch2', 'Catch2 missing')
        bp.run(['rm', '-rf', os.path.join(src, 'build')], quiet=True)

        # b. a build without test programs
        test_meson = os.path.join(src, 'test', 'meson.build')
        saved = open(test_meson).read()
        with open(test_meson, 'w') as f:
            f.write('# no test programs\n')
        scripts_test(src, env, 'has no test programs', 'no test programs')
        with open(test_meson, 'w') as f:
            f.write(saved)
        bp.run(['rm', '-rf', os.path.join(src, 'build')], quiet=True)

        # c. no C compiler
        bp.edit(native, r'(?m)^c\s*=.*\n', '', count=1)
        scripts_test(src, env_no_c, 'has no C API test', 'no C compiler')
    bp.log('configure_summary: OK')


if __name__ == '__main__':
    main()
