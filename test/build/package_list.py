"""Build proof: every tool, library and runtime the builds use belongs to a
package that scripts/setup installs.

scripts/setup installs with --no-install-recommends, so a file is present on a
fresh machine only when its Debian package is in setup's list or is a hard
dependency (Depends/Pre-Depends, transitively) of one that is. For each
artifact the builds need, this proof finds the file, asks dpkg which package
owns it, and checks that package against that closure. An artifact that is
missing altogether fails too: it is what a fresh machine would miss.

The cross-toolchain artifacts are checked against setup's --cross list when
that toolchain is installed (scripts/firmware needs it).
"""
import os
import re
import shutil
import subprocess
import sys

from buildproof import fail, log, parse_args


def setup_lists(root):
    """The package arrays of scripts/setup, as bash reads them: (host, cross)."""
    script = ('eval "$(sed -n -e \'/^packages=(/,/^)/p\' -e \'/^cross_packages=(/p\' "$1")"; '
              'echo "${packages[*]}"; echo "${cross_packages[*]}"')
    out = subprocess.run(['bash', '-c', script, 'lists', os.path.join(root, 'scripts', 'setup')],
                         capture_output=True, text=True)
    lines = out.stdout.split('\n')
    if out.returncode != 0 or len(lines) < 2 or not lines[0].split() or not lines[1].split():
        fail('scripts/setup: cannot read its packages=( ... ) and cross_packages=( ... ) arrays')
    return lines[0].split(), lines[1].split()


def installed_depends(package):
    """Hard dependencies of an installed package (one installed choice per alternative)."""
    out = subprocess.run(['dpkg-query', '-W', '-f=${Depends}, ${Pre-Depends}', package],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return []
    deps = []
    for group in out.stdout.split(','):
        choices = [re.sub(r'\(.*?\)|\[.*?\]', '', c).strip() for c in group.split('|')]
        choices = [c.split(':')[0] for c in choices if c]
        for c in choices:
            if is_installed(c):
                deps.append(c)
                break
    return deps


_installed = {}


def is_installed(package):
    if package not in _installed:
        out = subprocess.run(['dpkg-query', '-W', '-f=${db:Status-Status}', package],
                             capture_output=True, text=True)
        _installed[package] = out.returncode == 0 and out.stdout.strip() == 'installed'
    return _installed[package]


def closure(packages):
    seen, todo = set(), list(packages)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo += installed_depends(p)
    return seen


def owner(path):
    """The package that owns `path` (as named, then with links resolved), or None."""
    for candidate in (path, os.path.realpath(path)):
        out = subprocess.run(['dpkg', '-S', candidate], capture_output=True, text=True)
        if out.returncode == 0:
            return out.stdout.split(':')[0].split(',')[0].strip()
    return None


def native_binaries(root):
    text = open(os.path.join(root, 'native', 'clang16.ini')).read()
    return dict(re.findall(r"^(\w+)\s*=\s*'([^']+)'", text, re.M))


def artifacts(root):
    """(what, path or None) for everything the host builds and CI use."""
    tools = native_binaries(root)
    cxx = tools.get('cpp', 'clang++-16')
    found = []

    def program(name, why):
        path = shutil.which(name)
        if path and owner(path) is None and os.path.exists('/usr/bin/' + name):
            path = '/usr/bin/' + name   # a private install first on PATH: the fresh machine has Debian's
        found.append((why + ' (' + name + ')', path))

    program(cxx, 'C++ compiler')
    program(tools.get('ar', 'llvm-ar-16'), 'LTO archiver')
    for name in ('meson', 'ninja', 'pkg-config', 'python3', 'gnuplot', 'git'):
        program(name, 'build tool')

    def runtime(flags, filename, why):
        out = subprocess.run([cxx] + flags + ['-print-file-name=' + filename], capture_output=True, text=True)
        path = out.stdout.strip()
        found.append((why + ' (' + filename + ')', path if os.path.isabs(path) and os.path.exists(path) else None))

    runtime([], 'libclang_rt.asan-x86_64.a', 'AddressSanitizer runtime')
    runtime([], 'libclang_rt.ubsan_standalone-x86_64.a', 'UBSan runtime')
    runtime(['-stdlib=libc++'], 'libc++.so', 'libc++ (the libc++ build variant)')
    runtime(['-stdlib=libc++'], 'libc++abi.so', 'libc++abi')

    for pc in ('libsodium', 'libzstd', 'fmt', 'catch2', 'sqlite3', 'lmdb', 'RapidJSON', 'libcbor'):
        out = subprocess.run(['pkg-config', '--variable=pcfiledir', pc], capture_output=True, text=True)
        path = os.path.join(out.stdout.strip(), pc + '.pc') if out.returncode == 0 else None
        found.append(('pkg-config module ' + pc, path if path and os.path.exists(path) else None))
    return found


# The CPUs scripts/firmware builds for (ports/cortex-m/clang16-*.ini): each
# links against its own newlib and libstdc++ multilib.
CROSS_CPUS = (['-mcpu=cortex-m4', '-mfloat-abi=hard', '-mfpu=fpv4-sp-d16'], ['-mcpu=cortex-m3'],
              ['-mcpu=cortex-m0plus'])


def cross_artifacts():
    found = []
    # qemu-system-arm runs every CPU's demo (mps2-an386, mps2-an385, microbit);
    # the LTO link (ports/cortex-m/clang16-lto-link.py) uses LLVM's tools.
    for name in ('arm-none-eabi-g++', 'qemu-system-arm', 'llvm-link-16', 'opt-16', 'llvm-nm-16', 'llvm-ar-16'):
        found.append(('cross tool (' + name + ')', shutil.which(name)))
    gxx = shutil.which('arm-none-eabi-g++')
    for flags in CROSS_CPUS:
        for lib in ('libc.a', 'libstdc++.a'):
            path = None
            if gxx:
                out = subprocess.run([gxx, '-mthumb'] + flags + ['-print-file-name=' + lib],
                                     capture_output=True, text=True)
                p = out.stdout.strip()
                path = p if os.path.isabs(p) and os.path.exists(p) else None
            found.append(('newlib ' + lib + ' for ' + flags[0][len('-mcpu='):], path))
    return found


def check(items, allowed, listed_as):
    bad = 0
    for what, path in items:
        if path is None:
            log('MISSING {}: not installed; a package in {} must provide it'.format(what, listed_as))
            bad += 1
            continue
        pkg = owner(path)
        if pkg is None:
            log('UNOWNED {}: {} belongs to no Debian package'.format(what, path))
            bad += 1
        elif pkg.split(':')[0] not in allowed:
            log('UNLISTED {}: {} comes from {}, which {} neither lists nor depends on'.format(
                what, path, pkg, listed_as))
            bad += 1
        else:
            log('ok {}: {} ({})'.format(what, path, pkg))
    return bad


def main():
    args = parse_args(__doc__.split('\n')[0])
    root = os.path.abspath(args.source_root)
    if not shutil.which('dpkg'):
        fail('dpkg not found: this proof runs on Debian')
    host, cross = setup_lists(root)
    bad = check(artifacts(root), closure(host), 'scripts/setup')
    if shutil.which('arm-none-eabi-g++') or shutil.which('qemu-system-arm'):
        bad += check(cross_artifacts(), closure(host + cross), 'scripts/setup --cross')
    else:
        log('cross toolchain not installed: its packages are not checked')
    if bad:
        fail('{} artifact(s) not covered by scripts/setup'.format(bad))
    log('every artifact the builds use comes from a package scripts/setup installs')


if __name__ == '__main__':
    main()
