#!/usr/bin/env python3
"""Build proof: `meson install` gives a usable ferrite, and ferrite.pc and
ferrite-c.pc say how to use it.

In a scratch copy of the tree: configure (library only), build,
`meson install --destdir`, then check

 1. the installed files: libferrite.a, pkgconfig/ferrite.pc,
    pkgconfig/ferrite-c.pc, and in include/ferrite/ every module interface
    unit that was built (ports and docstore partitions included),
    ferrite_std.hpp, ferrite_try.hpp, the generated ferrite_modules.hpp and
    ferrite_version.hpp, and every C header of include/ (ferrite.h, the C
    API); no BMI;
 2. `pkg-config --cflags --libs ferrite` (PKG_CONFIG_PATH into the destdir,
    PKG_CONFIG_SYSROOT_DIR the destdir) prints the include directory, the
    dialect -std=c++20 -fno-exceptions -fno-rtti, the FERRITE_HAVE_* values
    of the build, -include ferrite_modules.hpp and -lferrite; libsodium and
    libzstd are Requires.private when crypto is built;
 3. docs/BUILD.md's recipe works: the installed interfaces are precompiled
    with those flags (less the -include), a program that imports ferrite is compiled and linked
    against the installed libferrite.a, and it prints ferrite::version;
 4. the C route: `pkg-config --cflags ferrite-c` has the include directory
    and no C++ flag; a C11 program (-std=c11 -Wall -Wextra -Wpedantic
    -Werror) that includes the installed <ferrite.h> is compiled by the C
    compiler of the native file, linked by the same C driver with `pkg-config
    --libs --static ferrite-c` against the installed libferrite.a, and it
    stores and reads back a value on a RAM flash and prints FERRITE_VERSION
    and ferrite_version().
"""
import json
import os
import re
import shlex
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
import buildproof as bp  # noqa: E402

CONSUMER = r'''#include <cstdio>
import ferrite;

int main() {
  const char text[] = "123456789";
  const auto crc = ferrite::crc32c(std::as_bytes(std::span<const char>(text, 9)));
  std::printf("installed ferrite %.*s, crc32c=0x%08X %s\n", static_cast<int>(ferrite::version.size()),
              ferrite::version.data(), crc, crc == 0xE3069283u ? "ok" : "WRONG");
  return crc == 0xE3069283u ? 0 : 1;
}
'''

C_CONSUMER = r'''#include <stdio.h>
#include <string.h>

#include <ferrite.h>

enum { SECTORS = 4, SECTOR = 4096 };
static unsigned char flash[SECTORS * SECTOR];

static ferrite_err ram_read(void* ctx, uint32_t addr, void* buf, uint32_t len) {
  (void)ctx;
  memcpy(buf, flash + addr, len);
  return FERRITE_OK;
}
static ferrite_err ram_program(void* ctx, uint32_t addr, const void* buf, uint32_t len) {
  const unsigned char* src = buf;
  uint32_t i;
  (void)ctx;
  for (i = 0; i < len; ++i) flash[addr + i] &= src[i];
  return FERRITE_OK;
}
static ferrite_err ram_erase(void* ctx, uint32_t sector) {
  (void)ctx;
  memset(flash + sector * SECTOR, 0xFF, SECTOR);
  return FERRITE_OK;
}

FERRITE_STORE_MEMORY(store_memory, 16, SECTORS);

int main(void) {
  ferrite_port port;
  ferrite_config config = ferrite_default_config();
  ferrite_store* store = NULL;
  uint32_t boots = 0;
  ferrite_err e;
  memset(flash, 0xFF, sizeof flash);
  memset(&port, 0, sizeof port);
  port.sector_count = SECTORS;
  port.sector_size = SECTOR;
  port.program_unit = 4;
  port.erase_value = 0xFF;
  port.read = ram_read;
  port.program = ram_program;
  port.erase = ram_erase;
  config.max_keys = 16;
  e = ferrite_open(store_memory, sizeof store_memory, &port, &config, &store);
  if (e == FERRITE_OK) e = ferrite_format(store);
  if (e == FERRITE_OK) e = ferrite_put_u32(store, FERRITE_KEY("boots"), 41u);
  if (e == FERRITE_OK) e = ferrite_get_u32(store, FERRITE_KEY("boots"), &boots);
  printf("installed ferrite C API %s (header %s), boots=%u %s\n", ferrite_version(), FERRITE_VERSION,
         (unsigned)boots, e == FERRITE_OK && boots == 41u ? "ok" : ferrite_strerror(e));
  return e == FERRITE_OK && boots == 41u ? 0 : 1;
}
'''


def module_graph(inc):
    """{module name: [imported ferrite modules]} from the installed interface units."""
    graph = {}
    for f in sorted(os.listdir(inc)):
        if not f.endswith('.cppm'):
            continue
        name, imports = None, []
        for line in open(os.path.join(inc, f)):
            line = line.split('//')[0].strip()
            m = re.match(r'export module ([\w.:]+);', line)
            if m:
                name = m.group(1)
            m = re.match(r'(?:export )?import ([\w.:]+);', line)
            if m:
                imports.append(m.group(1))
        if name is None:
            bp.fail(f + ': no "export module NAME;" line')
        primary = name.split(':')[0]
        graph[name] = [primary + i if i.startswith(':') else i for i in imports]
    for name in graph:
        graph[name] = [i for i in graph[name] if i in graph]
    return graph


def topo(graph):
    order, done = [], set()
    while len(order) < len(graph):
        ready = [n for n in sorted(graph) if n not in done and all(d in done for d in graph[n])]
        if not ready:
            bp.fail('import cycle among the installed interfaces')
        for n in ready:
            order.append(n)
            done.add(n)
    return order


def main():
    args = bp.parse_args(__doc__)
    with bp.Scratch('install', args.keep) as scratch:
        src = os.path.join(scratch, 'src')
        build = os.path.join(scratch, 'build')
        dest = os.path.join(scratch, 'dest')
        bp.copy_tree(args.source_root, src)
        c_headers = sorted(f for f in os.listdir(os.path.join(src, 'include')) if f.endswith('.h'))
        if 'ferrite.h' not in c_headers:
            bp.fail('the tree has no include/ferrite.h')
        prefix = '/opt/ferrite'
        bp.meson_setup(src, build, args.native_file,
                       ['-Dtests=disabled', '-Dbench=false', '-Ddemo=false', '--prefix', prefix])
        bp.ninja(build, '-j2')
        bp.run(['meson', 'install', '-C', build, '--destdir', dest, '--quiet'])

        # -- 1. installed files --------------------------------------------
        installed = []
        for d, _, files in os.walk(dest):
            installed += [os.path.relpath(os.path.join(d, f), dest) for f in files]
        bp.log('installed {} files'.format(len(installed)))
        libs = [p for p in installed if p.endswith('/libferrite.a')]
        pcs = [p for p in installed if p.endswith('/pkgconfig/ferrite.pc')]
        c_pcs = [p for p in installed if p.endswith('/pkgconfig/ferrite-c.pc')]
        if len(libs) != 1 or len(pcs) != 1 or len(c_pcs) != 1:
            bp.fail('expected one libferrite.a, one pkgconfig/ferrite.pc and one pkgconfig/ferrite-c.pc, got: ' +
                    ' '.join(libs + pcs + c_pcs))
        inc = os.path.join(dest, prefix.lstrip('/'), 'include', 'ferrite')
        built = sorted(os.path.basename(o[:-4]) + '.cppm' for o, r in bp.targets(build).items()
                       if r == 'CUSTOM_COMMAND_DEP' and o.endswith('.pcm'))
        want = built + ['ferrite_std.hpp', 'ferrite_try.hpp', 'ferrite_modules.hpp', 'ferrite_version.hpp'] + c_headers
        for f in c_headers:
            if open(os.path.join(inc, f), 'rb').read() != open(os.path.join(src, 'include', f), 'rb').read():
                bp.fail('include/ferrite/{} is not the tree\'s include/{}'.format(f, f))
        for part in ('ferrite.docstore-value.cppm', 'ferrite.docstore-query.cppm', 'ferrite.core.cppm',
                     'ferrite.sim.cppm', 'ferrite.cppm'):
            if part not in want:
                bp.fail('the build has no ' + part)
        have = set(os.listdir(inc)) if os.path.isdir(inc) else set()
        missing = [w for w in want if w not in have]
        if missing:
            bp.fail('not installed in include/ferrite/: ' + ' '.join(missing))
        bmis = [p for p in installed if p.endswith(('.pcm', '.o'))]
        if bmis:
            bp.fail('BMIs or objects installed: ' + ' '.join(bmis))
        bp.log('include/ferrite/: ' + ' '.join(sorted(have)))
        # The ferrite command, when this configuration builds it (docs/TOOL.md).
        if os.path.exists(os.path.join(build, 'tools', 'ferrite', 'ferrite')):
            tools = [p for p in installed if p.endswith('bin/ferrite')]
            if len(tools) != 1:
                bp.fail('the ferrite command is built but not installed in bin/')
            version = bp.run([os.path.join(dest, tools[0]), '--version']).strip()
            project = json.loads(bp.run(['meson', 'introspect', '--projectinfo', build], quiet=True))
            if version != 'ferrite ' + project['version']:
                bp.fail('installed ferrite --version says ' + version)
            bp.log('bin/ferrite: ' + version)

        # -- 2. pkg-config -------------------------------------------------
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(dest, os.path.dirname(pcs[0])),
                   PKG_CONFIG_SYSROOT_DIR=dest)
        os.environ.update(env)
        cflags = bp.run(['pkg-config', '--cflags', 'ferrite']).strip()
        libs_out = bp.run(['pkg-config', '--libs', 'ferrite']).strip()
        static_libs = bp.run(['pkg-config', '--libs', '--static', 'ferrite']).strip()
        bp.log('pkg-config --cflags ferrite: ' + cflags)
        bp.log('pkg-config --libs ferrite: ' + libs_out)
        bp.log('pkg-config --libs --static ferrite: ' + static_libs)
        have_crypto = os.path.exists(os.path.join(inc, 'ferrite.crypto.cppm'))
        expected = ['-I' + inc, '-std=c++20', '-fno-exceptions', '-fno-rtti',
                    '-DFERRITE_HAVE_CRYPTO=' + ('1' if have_crypto else '0'), '-include ferrite_modules.hpp']
        for e in expected:
            if e not in cflags:
                bp.fail('pkg-config --cflags ferrite lacks ' + e)
        for flag in ('FERRITE_HAVE_FMT', 'FERRITE_HAVE_JSON'):
            if '-D' + flag + '=' not in cflags:
                bp.fail('pkg-config --cflags ferrite lacks -D' + flag)
        lib_dir = os.path.join(dest, os.path.dirname(libs[0]))
        if '-L' + lib_dir not in libs_out or '-lferrite' not in libs_out:
            bp.fail('pkg-config --libs ferrite lacks -L{} -lferrite'.format(lib_dir))
        pc_text = open(os.path.join(dest, pcs[0])).read()
        if have_crypto:
            rp = re.search(r'^Requires.private:(.*)$', pc_text, re.M)
            if not rp or 'libsodium' not in rp.group(1) or 'libzstd' not in rp.group(1):
                print(pc_text)
                bp.fail('ferrite.pc: libsodium and libzstd must be Requires.private when crypto is built')
            if '-lsodium' not in static_libs or '-lzstd' not in static_libs:
                bp.fail('pkg-config --libs --static ferrite lacks -lsodium -lzstd')

        # -- 3. the consumer recipe of docs/BUILD.md ------------------------
        native = args.native_file if os.path.isabs(args.native_file) else os.path.join(src, args.native_file)
        m = re.search(r"^cpp\s*=\s*(.+)$", open(native).read(), re.M)
        cxx = re.findall(r"'([^']+)'", m.group(1)) if m else ['clang++-16']
        graph = module_graph(inc)
        order = topo(graph)
        work = os.path.join(scratch, 'consumer')
        os.makedirs(work)
        maps = ['-fmodule-file={}={}.pcm'.format(n, n.replace(':', '-')) for n in order]
        flags = shlex.split(cflags)
        # An interface unit starts with `module;`: no forced include before it.
        i = flags.index('-include')
        interface_flags = flags[:i] + flags[i + 2:]
        for n in order:
            bp.run(cxx + interface_flags + maps + ['-x', 'c++-module', '--precompile',
                                         os.path.join(inc, n.replace(':', '-') + '.cppm'),
                                         '-o', n.replace(':', '-') + '.pcm'], cwd=work, quiet=True)
        bp.log('precompiled {} installed interfaces: {}'.format(len(order), ' '.join(order)))
        with open(os.path.join(work, 'main.cpp'), 'w') as f:
            f.write(CONSUMER)
        # Compile and link apart: the libraries' -pthread on a compile line would
        # change the dialect the BMIs were built with (POSIX thread support).
        bp.run(cxx + flags + maps + ['-c', 'main.cpp', '-o', 'main.o'], cwd=work)
        bp.run(cxx + ['main.o', '-o', 'main'] + shlex.split(static_libs), cwd=work)
        out = bp.run([os.path.join(work, 'main')])
        print(out, end='')
        version = re.search(r"^project\('ferrite'.*?version: '([^']+)'",
                            open(os.path.join(src, 'meson.build')).read(), re.S).group(1)
        if not out.startswith('installed ferrite {},'.format(version)) or not out.rstrip().endswith(' ok'):
            bp.fail('the program built against the installed ferrite did not print version {} and ok'.format(version))

        # -- 4. a C program: ferrite-c.pc, ferrite.h, the C driver ------------
        c_cflags = bp.run(['pkg-config', '--cflags', 'ferrite-c']).strip()
        c_libs = bp.run(['pkg-config', '--libs', '--static', 'ferrite-c']).strip()
        bp.log('pkg-config --cflags ferrite-c: ' + c_cflags)
        bp.log('pkg-config --libs --static ferrite-c: ' + c_libs)
        if '-I' + inc not in shlex.split(c_cflags):
            bp.fail('pkg-config --cflags ferrite-c lacks -I' + inc)
        for cxx_only in ('-std=c++', '-fno-rtti', '-fno-exceptions', '-include', 'ferrite_modules.hpp', '-fmodule'):
            if cxx_only in c_cflags:
                bp.fail('pkg-config --cflags ferrite-c has the C++ flag ' + cxx_only)
        m = re.search(r"^c\s*=\s*(.+)$", open(native).read(), re.M)
        cc = re.findall(r"'([^']+)'", m.group(1)) if m else ['clang-16']
        c_work = os.path.join(scratch, 'c-consumer')
        os.makedirs(c_work)
        with open(os.path.join(c_work, 'main.c'), 'w') as f:
            f.write(C_CONSUMER)
        bp.run(cc + ['-std=c11', '-Wall', '-Wextra', '-Wpedantic', '-Werror'] + shlex.split(c_cflags) +
               ['-c', 'main.c', '-o', 'main.o'], cwd=c_work)
        bp.run(cc + ['main.o', '-o', 'main'] + shlex.split(c_libs), cwd=c_work)
        out = bp.run([os.path.join(c_work, 'main')])
        print(out, end='')
        if (not out.startswith('installed ferrite C API {} (header {}),'.format(version, version)) or
                not out.rstrip().endswith(' ok')):
            bp.fail('the C program built against the installed ferrite did not print version {} and ok'.format(version))
    bp.log('install_layout: OK')


if __name__ == '__main__':
    main()
