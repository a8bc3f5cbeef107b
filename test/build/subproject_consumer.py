#!/usr/bin/env python3
"""Build proof: ferrite works as a Meson subproject.

Configures test/subproject/ (a consumer project with its own defaults: C++17,
exceptions and RTTI on) whose subprojects/ferrite is a symlink to the ferrite
root, in a scratch copy of the tree; builds it; runs its `app` (which does
`import ferrite;`) and its `plain` program (no ferrite, keeps exceptions on).
"""
import os
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
import buildproof as bp  # noqa: E402


def main():
    args = bp.parse_args(__doc__)
    with bp.Scratch('subproject', args.keep) as scratch:
        src = os.path.join(scratch, 'src')
        build = os.path.join(scratch, 'build')
        bp.copy_tree(args.source_root, src)
        consumer = os.path.join(src, 'test', 'subproject')
        link = os.path.join(consumer, 'subprojects', 'ferrite')
        if not os.path.islink(link) or os.path.realpath(link) != os.path.realpath(src):
            bp.fail('test/subproject/subprojects/ferrite must be a symlink to the ferrite root (../../..)')
        nf = args.native_file if os.path.isabs(args.native_file) else os.path.join(src, args.native_file)
        bp.meson_setup(consumer, build, nf)
        bp.ninja(build)
        bp.assert_no_work(build)
        bp.assert_missingdeps_clean(build)
        app = bp.run([os.path.join(build, 'app')])
        plain = bp.run([os.path.join(build, 'plain')])
        print(app + plain, end='')
        if not app.rstrip().endswith(' ok'):
            bp.fail('the consumer app did not report ok')
    bp.log('subproject_consumer: OK')


if __name__ == '__main__':
    main()
