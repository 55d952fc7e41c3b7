#!/usr/bin/env bash
# ensure-deps.sh build|test|run|run-cluster: install what "make" needs on a fresh
# Debian or Ubuntu machine, and only what is missing: Go 1.26 or newer, and
# the Debian packages for Fyne's cgo build, the keyring, Xvfb and the
# Windows cross-compiler, PostgreSQL's server binaries for the tests
# (internal/pgtest starts its own throwaway server from them), and iproute2
# (ip, tc) for the impaired-link tests.
set -euo pipefail

want=${1:-build}
build_pkgs=(gcc pkg-config libgl1-mesa-dev xorg-dev)
run_pkgs=(gnome-keyring dbus-x11 xvfb xauth curl)
# chromium, nodejs and npm: the patient portal's browser tests (chromedp on
# Debian's chromium; axe-core and fhir-kit-client from web/package-lock.json).
test_pkgs=(gnome-keyring dbus-x11 xvfb xauth gcc-mingw-w64-x86-64 imagemagick xdotool postgresql iproute2 chromium)

pkgs=("${build_pkgs[@]}")
case "$want" in
  build) ;;
  run) pkgs+=("${run_pkgs[@]}") ;;
  run-cluster) pkgs+=("${run_pkgs[@]}" postgresql) ;;
  test) pkgs+=("${test_pkgs[@]}") ;;
  *) echo "ensure-deps: unknown target $want" >&2; exit 2 ;;
esac

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo_cmd=(sudo); else
    echo "ensure-deps: not root and no sudo; install these packages yourself: ${pkgs[*]}" >&2
  fi
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Node.js and npm may come from elsewhere than Debian (their own packages
# then conflict with Debian's npm): ask apt only when the commands are absent.
if [ "$want" = test ] && ! { command -v node >/dev/null && command -v npm >/dev/null; }; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go: /usr/local/go (the official tarball's place) or the PATH.
export PATH="$PATH:/usr/local/go/bin"
if ! command -v go >/dev/null; then
  echo "ensure-deps: Go is not installed; installing Debian's golang-go to bootstrap Go 1.26 through the module proxy"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
fi
v=$(go env GOVERSION 2>/dev/null || echo go0)
minor=$(echo "$v" | sed -E 's/^go1\.([0-9]+).*/\1/')
if ! [[ "$minor" =~ ^[0-9]+$ ]] || [ "$minor" -lt 21 ]; then
  echo "ensure-deps: $v cannot fetch a newer toolchain by itself; install Go 1.26 or newer from https://go.dev/dl/ into /usr/local/go" >&2
  exit 1
fi
# Go 1.21 and newer fetch the go.mod toolchain (1.26) through the module
# proxy when they are older: GOTOOLCHAIN=auto is the default.
web="$(cd "$(dirname "$0")/.." && pwd)/web"
if [ "$want" = test ] && { [ ! -d "$web/node_modules/fhir-kit-client" ] || [ "$web/package-lock.json" -nt "$web/node_modules" ]; }; then
  echo "ensure-deps: installing the portal tests' npm packages (web/package-lock.json)"
  (cd "$web" && npm ci --no-audit --no-fund >/dev/null)
fi
exit 0
