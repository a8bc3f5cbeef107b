# Sourced by scripts/test and scripts/demo.
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
