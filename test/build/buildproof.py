"""Shared helpers of the build proofs (test/build/*.py).

Each proof works in a scratch directory: a copy of the source tree (without
.git and build directories) and a fresh build directory, so the real tree and
the build running the proof are never touched.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time


def parse_args(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument('source_root', help='the ferrite source tree')
    p.add_argument('--native-file', default='native/clang16.ini',
                   help='machine file, relative to the source tree (default: %(default)s)')
    p.add_argument('--keep', action='store_true', help='keep the scratch directory')
    return p.parse_args()


def log(msg):
    print(msg, flush=True)


def fail(msg):
    print('FAIL: ' + msg, flush=True)
    sys.exit(1)


def _is_build_dir(path):
    return os.path.exists(os.path.join(path, 'meson-private')) or os.path.exists(os.path.join(path, 'build.ninja'))


def copy_tree(src, dst):
    """Copies the source tree: no VCS data, no build directories, symlinks kept as links."""
    def ignore(directory, names):
        skip = set()
        for n in names:
            full = os.path.join(directory, n)
            if n in ('.git', '__pycache__') or (os.path.isdir(full) and not os.path.islink(full) and _is_build_dir(full)):
                skip.add(n)
            elif os.path.samefile(directory, src) and n.startswith('build'):
                skip.add(n)
        return skip
    shutil.copytree(src, dst, symlinks=True, ignore=ignore)


class Scratch:
    """A temporary directory, removed on exit unless --keep."""

    def __init__(self, name, keep):
        self.path = tempfile.mkdtemp(prefix='ferrite-' + name + '-')
        self.keep = keep

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        if self.keep:
            log('scratch kept: ' + self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)


def run(cmd, cwd=None, check=True, quiet=False):
    """Runs cmd; returns its combined output. On failure prints it and fails the proof."""
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    dt = time.monotonic() - t0
    if not quiet:
        shown = ' '.join(cmd)
        if len(shown) > 160:
            shown = shown[:120] + ' ... ({} arguments)'.format(len(cmd))
        log('$ {}  ({:.1f} s)'.format(shown, dt))
    if check and p.returncode != 0:
        print(p.stdout[-20000:])
        fail('command failed with exit code {}: {}'.format(p.returncode, ' '.join(cmd)))
    return p.stdout


def meson_setup(src, build, native_file, extra=()):
    """Configures without optimization and debug info: the proofs test the
    build graph, and -O0 without -g roughly halves their compile time."""
    nf = native_file if os.path.isabs(native_file) else os.path.join(src, native_file)
    run(['meson', 'setup', build, src, '--native-file', nf, '-Doptimization=0', '-Ddebug=false'] + list(extra))


def jobs():
    """FERRITE_JOBS when set, otherwise the CPU count (as scripts/configure.bash)."""
    n = os.environ.get('FERRITE_JOBS', '')
    if n.isdigit() and int(n) > 0:
        return int(n)
    return os.cpu_count() or 2


def ninja(build, *args, check=True, quiet=False):
    """A build runs with -j N (N: jobs()) unless the caller gives its own -j;
    tool invocations (-t ...) get none."""
    args = list(args)
    if '-t' not in args and not any(a.startswith('-j') for a in args):
        args = ['-j', str(jobs())] + args
    return run(['ninja', '-C', build] + args, check=check, quiet=quiet)


def targets(build):
    """{output: rule} of every build edge."""
    out = {}
    for line in ninja(build, '-t', 'targets', 'all', quiet=True).splitlines():
        path, _, rule = line.rpartition(': ')
        if path:
            out[path] = rule
    return out


def deps(build, outputs):
    """{output: [dependency paths]} from ninja's deps log."""
    result = {}
    current = None
    for line in ninja(build, '-t', 'deps', *outputs, quiet=True).splitlines():
        if not line.strip():
            continue
        if not line.startswith(' '):
            current = line.split(': #deps')[0]
            result[current] = []
        elif current is not None:
            result[current].append(line.strip())
    return result


def mtimes(build, outputs):
    res = {}
    for o in outputs:
        try:
            res[o] = os.stat(os.path.join(build, o)).st_mtime_ns
        except FileNotFoundError:
            res[o] = None
    return res


def assert_no_work(build, targets_=()):
    out = ninja(build, *targets_, quiet=True)
    if 'no work to do' not in out:
        print(out)
        fail('a second ninja run still had work to do (the build is not stable)')
    log('next ninja: no work to do')


def assert_missingdeps_clean(build):
    out = ninja(build, '-t', 'missingdeps', quiet=True)
    if 'No missing dependencies' not in out:
        print(out)
        fail('ninja -t missingdeps reports missing dependency edges')
    log('ninja -t missingdeps: ' + out.strip().splitlines()[-1])


def edit(path, pattern, repl, count=1):
    with open(path) as f:
        text = f.read()
    new, n = re.subn(pattern, repl, text, count=count)
    if n == 0:
        fail('{}: pattern {!r} not found'.format(path, pattern))
    with open(path, 'w') as f:
        f.write(new)
