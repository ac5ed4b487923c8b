# Sourced by the setup scripts (tools/fonts.sh, tools/mcu/setup.sh): apt_install NAME PACKAGE...
# installs the Debian packages quietly, with sudo when not root, and on failure prints one line
# naming NAME, apt's first error and the command to run by hand, then exits 1.
apt_install() {
  local name="$1" log reason sudo=""
  shift
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "$name: installing $* (apt)" >&2
  log="$(mktemp)"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
           --no-install-recommends "$@"; } >"$log" 2>&1; then
    reason="$(grep -m1 '^E:' "$log" || tail -n1 "$log")"
    rm -f "$log"
    echo "$name: apt-get failed (${reason:-no message}); install $* by hand (sudo apt-get install --no-install-recommends $*), then rerun" >&2
    exit 1
  fi
  rm -f "$log"
}
