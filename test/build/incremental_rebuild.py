#!/usr/bin/env python3
"""Build proof: a clean parallel build orders every module edge, and after a
module-interface edit ONE ninja run rebuilds every importer, and nothing else
is left to do.

In a scratch copy of the tree it builds every BMI, every module object and
every library implementation unit, and of every other program (tools,
bench, demo, the test programs declared one by one) one object file that
imports ferrite modules: they all get the BMIs through the same dependency,
so one importer per program proves that program's flags carry it, and
building all of them three times made this the slowest proof (the demo is
linked; no test links, no Catch2 main). The test programs that
test/meson.build declares in one loop (one executable() call, one
dependency list) are represented by the smallest of them.
That first build is a clean one at -j8: with 2 cores, -j8 keeps several BMI
consumers waiting at once, which is where a missing module->module or
BMI->importer edge shows up as a race; after it the next ninja run must have
no work to do and `ninja -t missingdeps` must find no dependency on a
generated file (a BMI, the prologue header) that the graph does not order.
(The clean -j2 build is the one every CI run starts with.) Then:

 1. bumps `interface_version` in modules/ferrite.core.cppm: every BMI, every
    module object and every object whose depfile names a ferrite BMI must be
    rebuilt by one ninja run; the demo (when built) must print the new value;
 2. adds a comment to modules/ferrite.inspect.cppm, a module that imports
    ferrite.flash and that only the host tool and its tests import: every
    importer of ferrite.inspect must be rebuilt, and nothing that does not
    import it (the library's other modules and units, ferrite.flash
    included): the graph is as selective as the imports. Edit 1 already
    covers importers through other modules.

and after each edit the next ninja run must report "no work to do".
"""
import os
import re
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
import buildproof as bp  # noqa: E402


def rel_kind(o):
    if o.startswith('libferrite.a.p/'):
        return 'library'
    if o.startswith('test/'):
        return 'tests'
    if o.startswith('examples/'):
        return 'demo'
    if o.startswith('bench/'):
        return 'bench'
    if o.endswith('.pcm'):
        return 'BMIs'
    return 'module objects' if o.endswith('.o') and '/' not in o else 'other'


def summarize(title, outputs):
    groups = {}
    for o in sorted(outputs):
        groups.setdefault(rel_kind(o), []).append(o)
    bp.log('{}: {} outputs'.format(title, len(outputs)))
    for k in sorted(groups):
        bp.log('  {:<15} {}'.format(k, ' '.join(os.path.basename(x) for x in groups[k])))


def loop_programs(src):
    """Names of the test programs test/meson.build builds in its loop."""
    text = open(os.path.join(src, 'test', 'meson.build')).read()
    return set(re.findall(r"'(\w+)': \['test_\w+\.cpp'", text))


def source_size(src, obj):
    """Size of the source an object is compiled from ('test/test_x.p/test_x.cpp.o')."""
    path = os.path.join(src, obj.split('.p/')[0].rsplit('/', 1)[0], obj.split('.p/')[1][:-2])
    return os.path.getsize(path) if os.path.isfile(path) else 1 << 30


def rebuilt(before, after):
    return {o for o in after if after[o] != before.get(o)}


def main():
    args = bp.parse_args(__doc__)
    with bp.Scratch('incremental', args.keep) as scratch:
        src = os.path.join(scratch, 'src')
        build = os.path.join(scratch, 'build')
        bp.copy_tree(args.source_root, src)
        bp.meson_setup(src, build, args.native_file)

        tg = bp.targets(build)
        compiled = sorted(o for o, r in tg.items() if r == 'cpp_COMPILER' and 'catch_main' not in o)
        objects, sampled = [], set()
        for o in compiled:
            program = o.split('.p/')[0] if '.p/' in o else o
            if o.startswith('libferrite.a.p/') or program not in sampled:
                objects.append(o)
                sampled.add(program)
        # The test programs of test/meson.build's `foreach ... test_programs`
        # loop are declared by one executable() call with one dependency
        # list: one of them (the smallest) stands for all.
        loop = {'test/test_' + name for name in loop_programs(src)}
        looped = sorted((o for o in objects if o.split('.p/')[0] in loop), key=lambda o: source_size(src, o))
        objects = [o for o in objects if o not in looped[1:]]
        sampled -= {o.split('.p/')[0] for o in looped[1:]}
        # Edit 2 needs the importers of ferrite.inspect among them.
        inspect_users = []
        for top in ('src', 'tools', 'test', 'bench'):
            for d, _, files in os.walk(os.path.join(src, top)):
                for name in files:
                    path = os.path.join(d, name)
                    if name.endswith('.cpp') and 'import ferrite.inspect;' in open(path, errors='replace').read():
                        inspect_users.append(os.path.relpath(path, src).replace('/', '_') + '.o')
        objects += [o for o in compiled if o not in objects and any(o.endswith('/' + u) for u in inspect_users)]
        bp.log('importers built: {} of {} objects (every library unit, one per program of {} ({} test programs of one '
               'loop by {}), every importer of ferrite.inspect)'.format(
                   len(objects), len(compiled), len(sampled) - 1, len(looped), looped[0] if looped else '-'))
        pcms = [o for o, r in tg.items() if r == 'CUSTOM_COMMAND_DEP' and o.endswith('.pcm')]
        mod_objs = [o for o, r in tg.items() if r == 'CUSTOM_COMMAND' and o[:-2] + '.pcm' in pcms]
        if not pcms:
            bp.fail('no .pcm targets: this proof covers the clang module build only')
        demo = 'examples/ferrite-demo' if 'examples/ferrite-demo' in tg else None
        build_targets = objects + pcms + mod_objs + ([demo] if demo else [])
        out = bp.ninja(build, '-j8', *build_targets)
        steps = [l for l in out.splitlines() if l.startswith('[')]
        bp.log('clean build -j8: {} steps'.format(steps[-1].split(']')[0][1:].split('/')[1] if steps else 0))
        bp.assert_no_work(build, build_targets)
        bp.assert_missingdeps_clean(build)

        def importers_of(module):
            """Outputs whose recorded dependencies name the BMI (or the source) of `module`."""
            pcm = module + '.pcm'
            source = module + '.cppm'
            d = bp.deps(build, objects + pcms)
            hit = set()
            for o, ds in d.items():
                if o == pcm:
                    continue
                if pcm in ds or any(x.endswith('/' + source) for x in ds):
                    hit.add(o)
            # A module object is rebuilt from its BMI.
            hit |= {o for o in mod_objs if o[:-2] + '.pcm' in hit or o == module + '.o'}
            hit.add(pcm)
            return hit, set(d)

        watched = objects + pcms + mod_objs + ([demo] if demo else [])

        # -- 1. interface change in ferrite.core ----------------------------
        expected, _ = importers_of('ferrite.core')
        core = os.path.join(src, 'modules', 'ferrite.core.cppm')
        with open(core) as f:
            m = re.search(r'inline constexpr int interface_version = (\d+);', f.read())
        if not m:
            bp.fail('modules/ferrite.core.cppm has no "inline constexpr int interface_version = N;"')
        new_version = int(m.group(1)) + 1
        bp.edit(core, r'inline constexpr int interface_version = \d+;',
                'inline constexpr int interface_version = {};'.format(new_version))
        before = bp.mtimes(build, watched)
        out = bp.ninja(build, *build_targets)
        bp.log('meson regenerated: {}'.format('yes' if 'Regenerating build files' in out else 'no'))
        done = rebuilt(before, bp.mtimes(build, watched))
        summarize('edit 1: interface_version {} -> {} in ferrite.core; rebuilt'.format(new_version - 1, new_version), done)
        missing = expected - done
        if missing:
            bp.fail('importers of ferrite.core NOT rebuilt by one ninja run: ' + ' '.join(sorted(missing)))
        for kind in ('library', 'BMIs', 'module objects'):
            if not any(rel_kind(o) == kind for o in expected):
                bp.fail('no {} import ferrite.core: the dependency scan is broken'.format(kind))
        bp.assert_no_work(build, build_targets)
        if demo:
            text = bp.run([os.path.join(build, demo)])
            if not re.search(r'interface v{}\b'.format(new_version), text):
                print(text)
                bp.fail('the demo does not print the new interface_version {}: stale importer'.format(new_version))
            bp.log('demo prints interface v{}'.format(new_version))

        # -- 2. comment-only change in ferrite.inspect ----------------------
        expected, all_outputs = importers_of('ferrite.inspect')
        if not any(rel_kind(o) == 'tests' for o in expected):
            bp.fail('no test imports ferrite.inspect: the dependency scan is broken')
        inspect = os.path.join(src, 'modules', 'ferrite.inspect.cppm')
        with open(inspect, 'a') as f:
            f.write('// a comment added by test/build/incremental_rebuild.py\n')
        before = bp.mtimes(build, watched)
        bp.ninja(build, *build_targets)
        done = rebuilt(before, bp.mtimes(build, watched))
        summarize('edit 2: comment in ferrite.inspect; rebuilt', done)
        missing = expected - done
        if missing:
            bp.fail('importers of ferrite.inspect NOT rebuilt: ' + ' '.join(sorted(missing)))
        extra = {o for o in done if o in all_outputs or o in mod_objs} - expected
        if extra:
            bp.fail('rebuilt although they do not import ferrite.inspect: ' + ' '.join(sorted(extra)))
        kept = sorted(o for o in all_outputs if o not in done)
        if 'ferrite.flash.pcm' not in kept:
            bp.fail('ferrite.flash was rebuilt by an edit of a module that imports it')
        bp.log('not rebuilt (do not import ferrite.inspect): ' + (' '.join(os.path.basename(o) for o in kept) or '-'))
        bp.assert_no_work(build, build_targets)
    bp.log('incremental_rebuild: OK')


if __name__ == '__main__':
    main()
