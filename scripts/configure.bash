# Sourced by scripts/test, scripts/demo, scripts/bench and scripts/firmware.
# configure BUILDDIR ARGS...: `meson setup` a new build dir, or reconfigure an
# existing one (cheap; applies changed options). A dir left by another Meson
# version is wiped and set up again; any other error stops the script.
configure() {
  local dir=$1
  shift
  if [[ ! -f "$dir/meson-private/coredata.dat" ]]; then
    meson setup "$dir" "$@"
    return
  fi
  local out
  if ! out=$(meson setup --reconfigure "$dir" "$@" 2>&1); then
    if grep -q 'incompatible with the current version' <<<"$out"; then
      meson setup --wipe "$dir" "$@"
    else
      echo "$out" >&2
      return 1
    fi
  fi
}

# Parallel jobs for ninja / meson compile: FERRITE_JOBS when set, otherwise
# the CPU count (nproc). Every script passes it explicitly (-j "$jobs").
ferrite_jobs() {
  local n=${FERRITE_JOBS:-}
  if [[ -z "$n" ]]; then
    n=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
  fi
  if ! [[ "$n" =~ ^[1-9][0-9]*$ ]]; then
    echo "FERRITE_JOBS must be a positive integer (got '$n')" >&2
    return 1
  fi
  echo "$n"
}
