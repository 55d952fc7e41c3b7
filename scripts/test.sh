#!/usr/bin/env bash
# test.sh: the whole test suite, as "make test" and CI run it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
export LANG=en_GB.UTF-8
step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi

step "go vet"
go vet ./...

step "staticcheck (pinned in go.mod)"
go tool staticcheck ./...

# The tests run against a real OS keyring: a private D-Bus session with an
# unlocked gnome-keyring, in a throw-away HOME so no real keyring is
# touched. Go's caches stay where they are. GUI tests get an Xvfb display.
export GOMODCACHE="$(go env GOMODCACHE)" GOCACHE="$(go env GOCACHE)" GOPATH="$(go env GOPATH)"
scratch=$(mktemp -d)
xvfb_pid=""
cleanup() { [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null; rm -rf "$scratch"; }
trap cleanup EXIT
export HOME="$scratch/home"
mkdir -p "$HOME/.cache" "$HOME/.local/share/keyrings"
display=":$((100 + RANDOM % 800))"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
export DISPLAY="$display"

step "go test -race ./... (real keyring, Xvfb $DISPLAY)"
dbus-run-session -- bash -c '
  set -euo pipefail
  echo -n kmcr-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  export KMCR_TEST_KEYRING=1 KMCR_TEST_GUI=1 KMCR_TEST_POSTGRES=1
  go test -race -timeout 30m ./...
'

step "Windows cross-build of kmcr and kmcr-server (compile only)"
CC=x86_64-w64-mingw32-gcc GOOS=windows GOARCH=amd64 CGO_ENABLED=1 \
  go build -o "$scratch/windows/" ./cmd/kmcr ./cmd/kmcr-server
ls -l "$scratch/windows/"

step "all passed"
