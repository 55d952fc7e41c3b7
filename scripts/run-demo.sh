#!/usr/bin/env bash
# run-demo.sh: the program on its embedded defaults. Builds kmcr and
# kmcr-server, starts the server on 127.0.0.1 with generated demo patients
# and demo users (first run only), enrols a client profile, and opens the
# kmcr window connected to the server. Everything lives in ./.demo;
# "make clean-demo" starts afresh.
#
# Environment: KMCR_DEMO_PORT (default 8443), KMCR_DEMO_PATIENTS (2000),
# KMCR_DEMO_USER (paramedic; also carer, reception), KMCR_DEMO_TIMEOUT
# (seconds to keep the window open; default: until it is closed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
export LANG=en_GB.UTF-8

# Without a desktop session there is no Secret Service: run the whole demo
# inside a private D-Bus session with an unlocked gnome-keyring, so the
# demo uses the same two-factor key protection as a real laptop.
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ -z "${KMCR_DEMO_INNER:-}" ]; then
  mkdir -p "$HOME/.cache" "$HOME/.local/share/keyrings"
  exec dbus-run-session -- env KMCR_DEMO_INNER=1 bash -c \
    'echo -n kmcr-demo | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec "$0"' "$0"
fi
# Without a display (a server or CI machine) the window opens on Xvfb.
xvfb_pid=""
if [ -z "${DISPLAY:-}" ]; then
  display=":$((100 + RANDOM % 800))"
  Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb_pid=$!
  export DISPLAY="$display"
  echo "demo: no display, so the window opens on a virtual one ($DISPLAY)"
fi

port=${KMCR_DEMO_PORT:-8443}
patients=${KMCR_DEMO_PATIENTS:-2000}
user=${KMCR_DEMO_USER:-paramedic}
root=.demo
srv=$root/server
cli=$root/client-$user
password="demo password"
passphrase="demo passphrase"

echo "demo: building (the first Fyne build takes a few minutes)"
go build -o bin/ ./cmd/kmcr ./cmd/kmcr-server

if [ ! -f "$srv/kmcr-server.db" ]; then
  echo "demo: creating the server store with $patients synthetic patients"
  bin/kmcr-server init --data-dir "$srv"
  bin/kmcr-server seed --patients "$patients" --seed 7 --out "$root/seed"
  bin/kmcr-server import --data-dir "$srv" "$root/seed" | tail -n 3
  # The demo organisations (invented names; the GP practices are the first
  # two of the demo data's directory), each meeting the toolkit.
  bin/kmcr-server org add --data-dir "$srv" --ods RKA01 --name "Kent and Medway Ambulance Service" --kind ambulance --dspt met
  bin/kmcr-server org add --data-dir "$srv" --ods G82001 --name "Rochester Health Centre" --kind gp --dspt met
  bin/kmcr-server org add --data-dir "$srv" --ods G82002 --name "Rochester Medical Practice" --kind gp --dspt met
  bin/kmcr-server org add --data-dir "$srv" --ods RK901 --name "Kent and Medway Community Care" --kind community --dspt met
  bin/kmcr-server org add --data-dir "$srv" --ods SC886 --name "Medway Adult Social Care Team" --kind social-care --dspt met
  printf '%s\n' "$password" | bin/kmcr-server user add --data-dir "$srv" --name paramedic --role paramedic --org RKA01 --password-stdin
  printf '%s\n' "$password" | bin/kmcr-server user add --data-dir "$srv" --name carer --role community --org RK901 --password-stdin
  printf '%s\n' "$password" | bin/kmcr-server user add --data-dir "$srv" --name reception --role frontdesk --org G82001 --password-stdin
  printf '%s\n' "$password" | bin/kmcr-server user add --data-dir "$srv" --name privacy --role privacy-officer --org G82002 --password-stdin
  mapfile -t nhs < <(grep -o '"system":"https://fhir.nhs.uk/Id/nhs-number","value":"[0-9]*"' "$root/seed/Patient.000.ndjson" | grep -o '[0-9]\{10\}')
  bin/kmcr-server caseload add --data-dir "$srv" --user paramedic --nhs "${nhs[@]:0:1000}"
  bin/kmcr-server caseload add --data-dir "$srv" --user carer --nhs "${nhs[@]:0:40}"
  bin/kmcr-server caseload add --data-dir "$srv" --user reception --nhs "${nhs[@]:0:300}"
fi

bin/kmcr-server serve --data-dir "$srv" --addr "127.0.0.1:$port" --dev-idp > "$root/server.log" 2>&1 &
server_pid=$!
cleanup() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
}
trap cleanup EXIT
# Wait until this server (not another on the same port) is listening.
for _ in $(seq 100); do
  kill -0 "$server_pid" 2>/dev/null || { echo "demo: kmcr-server did not start:"; cat "$root/server.log"; exit 1; }
  grep -q "listening on" "$root/server.log" && curl -sk "https://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
echo "demo: kmcr-server is serving https://127.0.0.1:$port (log: $root/server.log)"
# The NHS number of the seed's first patient. grep -m1 stops at the first
# line: a "| head" would end the pipe early, and under pipefail the grep
# writing into it fails with SIGPIPE and stops the script.
first_nhs() { grep -m1 -o '"system":"https://fhir.nhs.uk/Id/nhs-number","value":"[0-9]*"' "$root/seed/Patient.000.ndjson" | grep -m1 -o '[0-9]\{10\}'; }
citizen=$(first_nhs)
echo "demo: patient portal https://127.0.0.1:$port/my/ (accept the demo certificate): sign in with NHS number $citizen, password 'demo citizen'"

# A demo profile left by an older kmcr whose cache format this one does not
# read holds demo data only: wipe it and enrol again.
if [ -f "$cli/profile.json" ] &&
  ! out=$(KMCR_PASSPHRASE="$passphrase" bin/kmcr --data-dir "$cli" status 2>&1) &&
  grep -q "has format" <<<"$out"; then
  echo "demo: the demo profile was made by an older kmcr (another cache format); enrolling again"
  bin/kmcr --data-dir "$cli" wipe --yes
fi
if [ ! -f "$cli/profile.json" ]; then
  echo "demo: enrolling $user"
  printf '%s\n' "$password" | KMCR_PASSPHRASE="$passphrase" bin/kmcr --data-dir "$cli" enrol \
    --server "wss://127.0.0.1:$port" --ca "$srv/ca.pem" --user "$user" --password-stdin
fi

# A patient of the seed, so the admin hint below runs as printed.
example_nhs=$(first_nhs 2>/dev/null || true)
example_nhs=${example_nhs:-9990000018}

cat <<MSG

  kmcr is opening. Unlock with the passphrase:   $passphrase
  Demo users (password "$password"): paramedic, carer (community), reception (front desk)
  Search by NHS number, by name in either order with or without a date of birth
  ("shirley smith", "smith 12/03/1962", "smith 12031962"), or by postcode or district ("ME7").
  Ctrl+L locks; Ctrl+E is emergency (break-glass) access.
  Server admin (each line runs as printed, in another terminal, from $(pwd)):
    bin/kmcr-server access-log --data-dir "$srv" --nhs $example_nhs
    bin/kmcr-server alerts --data-dir "$srv"
    bin/kmcr-server device list --data-dir "$srv"

MSG
if [ -n "${KMCR_DEMO_TIMEOUT:-}" ]; then
  timeout "$KMCR_DEMO_TIMEOUT" bin/kmcr --data-dir "$cli" || true
else
  bin/kmcr --data-dir "$cli"
fi
