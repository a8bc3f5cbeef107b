#!/usr/bin/env python3
"""ferrite's Cortex-M link-time optimisation (ports/cortex-m/lto.ini).

clang16-arm-wrapper.sh runs this for a link whose arguments contain -flto.
The objects and archive members clang-16 compiled with -flto are LLVM
bitcode, which arm-none-eabi-ld cannot read (it has no LLVM plugin), and
Debian 12's ld.lld (LLVM 14) cannot read clang-16's. So the optimisation
happens before the GNU link:

  1. the bitcode members of the archives (ferrite's library) are merged by
     llvm-link-16, and opt-16 internalizes every symbol but those the
     program's objects and the opaque objects (below) use, so the optimiser
     may inline or drop ferrite's functions across its translation units;
  2. clang-16 compiles the merged module to one object (-Oz,
     -ffunction-sections -fdata-sections, the target of the other objects),
     and each of the program's own bitcode objects to an object of its own
     (the application is not merged: what LTO does to ferrite stays apart);
  3. arm-none-eabi-g++ links those objects with everything else (startup
     code, newlib, libstdc++, the linker script) exactly as without LTO.

The translation unit that defines ferrite::detail::destroy_frame is compiled
apart, never merged: that helper must stay opaque to the optimiser, or
clang-16 may elide nested coroutine frame allocations (HALO) and still free
them (see modules/ferrite.core.cppm).

Usage (from the wrapper): clang16-lto-link.py TRIPLE LINK-ARGS...
"""
import os
import shutil
import subprocess
import sys
import tempfile

BITCODE_MAGIC = b'BC\xc0\xde'
OPAQUE_SYMBOL = 'destroy_frame'
LIBRARY_SLOT = '\0library'  # where the archives' bitcode was on the command line


def is_bitcode(data):
    return data[:4] == BITCODE_MAGIC


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode != 0:
        sys.stderr.write('clang16-lto-link: %s failed:\n%s%s' % (' '.join(cmd), p.stdout, p.stderr))
        sys.exit(p.returncode)
    return p.stdout


def archive_members(path, into):
    """The members of an archive in order: a thin archive's (what Meson makes)
    are files already, a normal one's are extracted into `into` (members of
    the same name kept apart with `N`)."""
    names = run(['llvm-ar-16', 't', path]).split()
    with open(path, 'rb') as f:
        if f.read(8) == b'!<thin>\n':
            return [n if os.path.isfile(n) else os.path.join(os.path.dirname(path), n) for n in names]
    seen = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        dest = os.path.join(into, '%d_%s' % (len(out), os.path.basename(n)))
        data = run_bytes(['llvm-ar-16', 'p', path, n] if seen[n] == 1 else
                         ['llvm-ar-16', 'pN', str(seen[n]), path, n])
        with open(dest, 'wb') as f:
            f.write(data)
        out.append(dest)
    return out


def run_bytes(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.stderr.write('clang16-lto-link: %s failed:\n%s' % (' '.join(cmd), p.stderr.decode()))
        sys.exit(p.returncode)
    return p.stdout


def defines(path, symbol_part):
    for line in run(['llvm-nm-16', '--defined-only', '-C', path]).splitlines():
        if symbol_part in line:
            return True
    return False


def main():
    triple = sys.argv[1]
    args = [a for a in sys.argv[2:] if a != '-flto']
    cpu_args = [a for a in args if a.startswith(('-mcpu=', '-mfloat-abi=', '-mfpu=', '-mthumb'))]
    opt = [a for a in args if a in ('-Oz', '-Os', '-O2', '-O3', '-O1', '-O0')][-1:] or ['-Oz']
    out_index = args.index('-o') + 1 if '-o' in args else None
    output = args[out_index] if out_index else 'a.out'
    tmp = tempfile.mkdtemp(prefix='ferrite-lto-')
    try:
        program, library, opaque = [], [], []
        link = []
        for i, a in enumerate(args):
            if i == out_index or a.startswith('-') or not os.path.isfile(a):
                link.append(a)
                continue
            with open(a, 'rb') as f:
                head = f.read(8)
            if a.endswith('.a') and head.startswith((b'!<arch>', b'!<thin>')):
                members = archive_members(a, tmp)
                bitcode = [m for m in members if is_bitcode(open(m, 'rb').read(4))]
                if not bitcode:
                    link.append(a)
                    continue
                if len(bitcode) != len(members):
                    sys.exit('clang16-lto-link: %s mixes bitcode and native objects' % a)
                for m in bitcode:
                    (opaque if defines(m, OPAQUE_SYMBOL) else library).append(m)
                if LIBRARY_SLOT not in link:
                    link.append(LIBRARY_SLOT)
            elif is_bitcode(head):
                program.append(a)  # compiled on its own anyway: never merged
                link.append(a)
            else:
                link.append(a)
        codegen = ['clang++-16', '--target=' + triple] + cpu_args + opt + \
            ['-ffunction-sections', '-fdata-sections', '-Wno-unused-command-line-argument', '-c']
        keep = set()
        for obj in program + opaque:
            keep.update(run(['llvm-nm-16', '--undefined-only', '-j', obj]).split())
        native = {}
        for obj in program:
            native[obj] = obj + '.lto-native.o'
            run(codegen + ['-x', 'ir', obj, '-o', native[obj]])
        for n, obj in enumerate(opaque):
            native[obj] = output + '.lto-opaque%d.o' % n
            run(codegen + ['-x', 'ir', obj, '-o', native[obj]])
        link = [native.get(a, a) for a in link]
        library_object = output + '.lto.o'
        if library:
            linked = os.path.join(tmp, 'lto-linked.bc')
            run(['llvm-link-16', '-o', linked] + library)
            keep_file = os.path.join(tmp, 'lto-keep.txt')
            with open(keep_file, 'w') as f:
                f.write('\n'.join(sorted(keep)) + '\n')
            merged = os.path.join(tmp, 'lto-merged.bc')
            run(['opt-16', '--passes=internalize,globaldce', '--internalize-public-api-file=' + keep_file,
                 linked, '-o', merged])
            run(codegen + ['-x', 'ir', merged, '-o', library_object])
        if LIBRARY_SLOT in link:
            at = link.index(LIBRARY_SLOT)
            link[at:at + 1] = ([library_object] if library else []) + [native[o] for o in opaque]
        p = subprocess.run(['arm-none-eabi-g++'] + link)
        sys.exit(p.returncode)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
