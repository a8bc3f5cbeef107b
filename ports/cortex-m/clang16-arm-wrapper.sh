#!/bin/sh
# ferrite's Cortex-M "C++ compiler" for Meson: clang++-16 compiles (C++20
# modules, coroutines), arm-none-eabi-g++ links against Debian's newlib,
# libstdc++, libgcc and librdimon.
#
# Why: clang-16's bare-metal driver links with ld.lld against libc++,
# libc++abi, libunwind and compiler-rt, which Debian does not ship for ARM;
# arm-none-eabi-gcc brings the runtimes and knows the multilib layout. And
# g++-12 (arm-none-eabi-g++ 12.2) crashes or miscompiles ferrite's module
# implementation units (see docs/FIRMWARE.md).
#
# Compile-type invocations go to clang with:
#  * --target derived from -mcpu / -mfloat-abi (cortex-m0/m0plus -> thumbv6m,
#    m3 -> thumbv7m, m4/m7 -> thumbv7em, m33 -> thumbv8m.main; "hf" with
#    -mfloat-abi=hard);
#  * -fshort-enums, because arm-none-eabi-gcc's objects and libraries use
#    variable-size enums (without it ld warns "uses 32-bit enums yet the output
#    is to use variable-size enums");
#  * newlib's C and libstdc++ headers for the multilib gcc would pick for the
#    same -mcpu/-mfloat-abi/-mfpu flags.
# Everything else (the link, Meson's linker probes) goes to arm-none-eabi-g++;
# a link with -flto (ports/cortex-m/lto.ini) first merges and compiles the
# LLVM bitcode (clang16-lto-link.py).
set -e
cpu=cortex-m4 abi=soft arch_flags=
mode=link
for a in "$@"; do
  case "$a" in
    -mcpu=*) cpu=${a#-mcpu=}; arch_flags="$arch_flags $a" ;;
    -mfloat-abi=*) abi=${a#-mfloat-abi=}; arch_flags="$arch_flags $a" ;;
    -mfpu=*|-mthumb) arch_flags="$arch_flags $a" ;;
    -c|-S|-E|--precompile|-M|-MM|--version|-v|-dumpversion|-dumpmachine|--print-*|-print-*|-fsyntax-only) mode=compile ;;
  esac
done
case "$cpu" in
  cortex-m0|cortex-m0plus|cortex-m1) triple=thumbv6m-none-eabi ;;
  cortex-m3) triple=thumbv7m-none-eabi ;;
  cortex-m33|cortex-m35p|cortex-m55) triple=thumbv8m.main-none-eabi ;;
  *) triple=thumbv7em-none-eabi ;;
esac
[ "$abi" = hard ] && triple=${triple}hf
if [ "$mode" = link ]; then
  case " $* " in
    *" -flto "*) exec python3 "$(dirname "$0")/clang16-lto-link.py" "$triple" "$@" ;;
  esac
  exec arm-none-eabi-g++ "$@"
fi
gcc_version=$(arm-none-eabi-gcc -dumpversion)
# shellcheck disable=SC2086  # arch_flags is a word list on purpose
multilib=$(arm-none-eabi-gcc $arch_flags -print-multi-directory)
nl=/usr/include/newlib
exec clang++-16 --target="$triple" -fshort-enums -nostdlibinc \
  -isystem "$nl/c++/$gcc_version" -isystem "$nl/c++/$gcc_version/arm-none-eabi/$multilib" \
  -isystem "$nl/c++/$gcc_version/backward" -isystem "$nl" "$@"
