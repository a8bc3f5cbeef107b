#!/usr/bin/env python3
"""Build proof: clean builds succeed at any parallelism.

In a scratch copy of the tree: a clean `ninja -j2`, then `ninja -t clean` and
a clean `ninja -j8` (with 2 cores, -j8 keeps several BMI consumers waiting at
once, which is where a missing module->module or BMI->importer edge shows up
as a race). After each build the next ninja run must have no work to do, and
`ninja -t missingdeps` must find no dependency on a generated file (a BMI, the
prologue header) that the build graph does not order.
"""
import os
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
import buildproof as bp  # noqa: E402


def main():
    args = bp.parse_args(__doc__)
    with bp.Scratch('parallel', args.keep) as scratch:
        src = os.path.join(scratch, 'src')
        build = os.path.join(scratch, 'build')
        bp.copy_tree(args.source_root, src)
        # The library (every module and implementation unit) plus the demo as
        # an ordinary importer: the whole module graph, without the test
        # programs, which add compile time but no new kind of edge.
        bp.meson_setup(src, build, args.native_file, ['-Dtests=disabled', '-Dbench=false'])
        for jobs in ('2', '8'):
            bp.ninja(build, '-t', 'clean', quiet=True)
            out = bp.ninja(build, '-j' + jobs)
            steps = [l for l in out.splitlines() if l.startswith('[')]
            bp.log('clean build -j{}: {} steps'.format(jobs, steps[-1].split(']')[0][1:].split('/')[1] if steps else 0))
            bp.assert_no_work(build)
            bp.assert_missingdeps_clean(build)
    bp.log('clean_parallel_build: OK')


if __name__ == '__main__':
    main()
