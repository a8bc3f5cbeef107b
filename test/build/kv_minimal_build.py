#!/usr/bin/env python3
"""Build proof: the kv-minimal profile builds and passes the key/value tests.

Configures a scratch copy of the tree with -Dprofile=kv-minimal (no
transactions, scans, change stream, index-less mode, verify_writes, stores on
sectors of different sizes, typed writes or sealing; docs/SIZE.md), builds it, checks that the library carries
none of the code of what it leaves out, and runs the key/value tests that
the build registers (test/meson.build: kv_programs), whose feature-bound
cases compile out and whose cases about a missing feature compile in.
"""
import os
import re
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
import buildproof as bp  # noqa: E402

# Code of the features left out: no symbol of the library may name them.
ABSENT = ['commit_batch', 'walk_batch', 'replay_txn', 'Transaction', 'Cursor', 'changes_since', 'put_typed',
          'put_scalar', 'spreads_victims', 'ensure_spread_room', 'turn_margin', 'write_summary', 'replay_summary']
EXPECTED_TESTS = {'core', 'flash', 'log', 'powerloss', 'capacity', 'pace', 'corruption', 'mount_fuzz', 'summary'}
NOT_EXPECTED = {'txn', 'cursor', 'changes', 'docstore', 'capi'}


def main():
    args = bp.parse_args(__doc__)
    with bp.Scratch('kv-minimal', args.keep) as scratch:
        src = os.path.join(scratch, 'src')
        build = os.path.join(scratch, 'build')
        bp.copy_tree(args.source_root, src)
        nf = args.native_file if os.path.isabs(args.native_file) else os.path.join(src, args.native_file)
        # Optimized: the power-loss campaign runs in this build.
        out = bp.run(['meson', 'setup', build, src, '--native-file', nf, '-Dprofile=kv-minimal', '-Dtests=enabled',
                      '-Dcrypto=disabled', '-Dbench=false', '-Ddemo=false', '-Ddebug=false'])
        if not re.search(r'profile, features\s*:\s*yes: kv-minimal, left out: transactions scans changes index_less '
                         r'verify_writes mixed_sectors typed_writes sealing summaries; crc32c table16', out):
            bp.fail('the configure summary does not show the kv-minimal profile')
        bp.ninja(build)
        symbols = bp.run(['nm', '-C', os.path.join(build, 'libferrite.a')], quiet=True)
        present = [name for name in ABSENT if re.search(r' [TtWw] .*\b' + name + r'\b', symbols)]
        if present:
            bp.fail('the kv-minimal library still defines code of features it leaves out: ' + ', '.join(present))
        listed = bp.run(['meson', 'test', '-C', build, '--list'], quiet=True).splitlines()
        names = {line.split(' / ')[-1].strip() for line in listed if line.strip()}
        if not EXPECTED_TESTS <= names:
            bp.fail('kv-minimal registers too few tests: missing ' + ', '.join(sorted(EXPECTED_TESTS - names)))
        if names & NOT_EXPECTED:
            bp.fail('kv-minimal registers tests of features it leaves out: ' + ', '.join(sorted(names & NOT_EXPECTED)))
        print(bp.run(['meson', 'test', '-C', build, '--print-errorlogs', '--num-processes', str(bp.jobs())]),
              end='')
    bp.log('kv_minimal_build: OK')


if __name__ == '__main__':
    main()
