#!/usr/bin/env bash
# run-cluster.sh: the central record on PostgreSQL with two kmcr-server
# nodes. Starts a PostgreSQL of its own (Debian's binaries; as user
# "nobody" when run as root; data in a folder of its own, port
# KMCR_CLUSTER_PG_PORT, default 55432, on 127.0.0.1 only), migrates it,
# loads the demo patients and users through the command line against the
# database (first run only), starts two nodes on 127.0.0.1:8443 and :8444
# that share the certificate and the token key file, enrols the demo
# profile against both addresses and opens the kmcr window. Stopping the
# window stops everything.
#
# Environment: KMCR_DEMO_PORT (node A's port, default 8443; node B's is
# the next), KMCR_DEMO_PATIENTS (2000), KMCR_DEMO_USER (paramedic),
# KMCR_DEMO_TIMEOUT (seconds to keep the window open), KMCR_CLUSTER_PG_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
export LANG=en_GB.UTF-8

if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && [ -z "${KMCR_DEMO_INNER:-}" ]; then
  mkdir -p "$HOME/.cache" "$HOME/.local/share/keyrings"
  exec dbus-run-session -- env KMCR_DEMO_INNER=1 bash -c \
    'echo -n kmcr-demo | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec "$0"' "$0"
fi
xvfb_pid=""
if [ -z "${DISPLAY:-}" ]; then
  display=":$((100 + RANDOM % 800))"
  Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb_pid=$!
  export DISPLAY="$display"
  echo "cluster: no display, so the window opens on a virtual one ($DISPLAY)"
fi

port_a=${KMCR_DEMO_PORT:-8443}
port_b=$((port_a + 1))
pg_port=${KMCR_CLUSTER_PG_PORT:-55432}
patients=${KMCR_DEMO_PATIENTS:-2000}
user=${KMCR_DEMO_USER:-paramedic}
root=.demo-cluster
srv=$root/server
cli=$root/client-$user
password="demo password"
passphrase="demo passphrase"
mkdir -p "$root"

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
  echo "cluster: PostgreSQL is not installed (Debian's postgresql package; make run-cluster installs it)" >&2
  exit 1
fi
# PostgreSQL refuses to run as root: as root it runs as nobody, with its
# data in a folder nobody can reach (the checkout may not be).
as_pg=()
pgdata_root="$root/pg"
if [ "$(id -u)" -eq 0 ]; then
  as_pg=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
  pgdata_root="${TMPDIR:-/tmp}/kmcr-run-cluster-pg"
fi
pgdata=$pgdata_root/data
pwfile=$root/pg-password
if [ ! -f "$pgdata/PG_VERSION" ]; then
  echo "cluster: creating a PostgreSQL cluster in $pgdata"
  rm -rf "$pgdata_root"
  mkdir -p "$pgdata_root"
  chmod 700 "$pgdata_root"
  [ "$(id -u)" -eq 0 ] && chown nobody:nogroup "$pgdata_root"
  head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$pwfile"
  chmod 600 "$pwfile"
  cp "$pwfile" "$pgdata_root/pw" && { [ "$(id -u)" -eq 0 ] && chown nobody:nogroup "$pgdata_root/pw" || true; }
  "${as_pg[@]}" "$pgbin/initdb" -D "$pgdata" -U kmcr --pwfile "$pgdata_root/pw" --auth scram-sha-256 -E UTF8 --locale C >/dev/null
  rm -f "$pgdata_root/pw"
  printf "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\nport = %s\n" "$pg_port" >> "$pgdata/postgresql.conf"
  rm -rf "$srv" "$cli" # a new database: a new store
fi
url="postgres://kmcr:$(cat "$pwfile")@127.0.0.1:$pg_port/postgres?sslmode=disable"
if ! "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdata_root/server.log" -w start >/dev/null
fi
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdata" -m fast -w stop >/dev/null 2>&1 || true
  [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null || true
}
trap cleanup EXIT
echo "cluster: PostgreSQL is running on 127.0.0.1:$pg_port (its password is in $pwfile)"
export KMCR_STORE=$url

echo "cluster: building (the first Fyne build takes a few minutes)"
go build -o bin/ ./cmd/kmcr ./cmd/kmcr-server

if [ ! -f "$srv/ca.pem" ]; then
  echo "cluster: creating the store with $patients synthetic patients"
  bin/kmcr-server init --data-dir "$srv" | sed -n 1p # sed reads to the end: a head that left early would SIGPIPE the writer under pipefail
  bin/kmcr-server seed --patients "$patients" --seed 7 --out "$root/seed" >/dev/null
  bin/kmcr-server import "$root/seed" | tail -n 3
  for u in "paramedic paramedic" "carer community" "reception frontdesk" "privacy privacy-officer"; do
    set -- $u
    printf '%s\n' "$password" | bin/kmcr-server user add --name "$1" --role "$2" --password-stdin
  done
  mapfile -t nhs < <(grep -o '"system":"https://fhir.nhs.uk/Id/nhs-number","value":"[0-9]*"' "$root/seed/Patient.000.ndjson" | grep -o '[0-9]\{10\}')
  bin/kmcr-server caseload add --user paramedic --nhs "${nhs[@]:0:1000}" | tail -n 1
  bin/kmcr-server caseload add --user carer --nhs "${nhs[@]:0:40}" | tail -n 1
  bin/kmcr-server caseload add --user reception --nhs "${nhs[@]:0:300}" | tail -n 1
fi

for port in "$port_a" "$port_b"; do
  bin/kmcr-server serve --data-dir "$srv" --addr "127.0.0.1:$port" > "$root/node-$port.log" 2>&1 &
  pids+=($!)
done
for port in "$port_a" "$port_b"; do
  for _ in $(seq 100); do
    curl -sk "https://127.0.0.1:$port/healthz" 2>/dev/null | grep -q ok && break
    sleep 0.2
  done
  curl -sk "https://127.0.0.1:$port/healthz" 2>/dev/null | grep -q ok || { echo "cluster: the node on $port did not start:"; cat "$root/node-$port.log"; exit 1; }
  echo "cluster: node on https://127.0.0.1:$port (log: $root/node-$port.log)"
done

if [ -f "$cli/profile.json" ] && ! grep -q '"servers"' "$cli/profile.json"; then
  # A profile from before the window knew both nodes: enrol it afresh.
  echo "cluster: the demo profile knows one node; enrolling it again against both"
  KMCR_PASSPHRASE="$passphrase" bin/kmcr --data-dir "$cli" wipe --yes >/dev/null 2>&1 || rm -rf "$cli"
fi
if [ ! -f "$cli/profile.json" ]; then
  echo "cluster: enrolling $user against both nodes"
  printf '%s\n' "$password" | KMCR_PASSPHRASE="$passphrase" bin/kmcr --data-dir "$cli" enrol \
    --server "wss://127.0.0.1:$port_a" --server "wss://127.0.0.1:$port_b" --ca "$srv/ca.pem" --user "$user" --password-stdin
fi

cat <<MSG

  kmcr is opening, enrolled against both nodes (127.0.0.1:$port_a and :$port_b). Unlock with the passphrase:   $passphrase
  Both nodes serve one PostgreSQL store: a change made on either reaches every client. Try, in another shell:
    KMCR_STORE='$url' bin/kmcr-server caseload remove --user $user --nhs NHS
  (no node is asked: the command works on the database, and the window sees it at once), and
    bin/kmcr --data-dir $cli status --json     # "servers": both addresses; "server": the node in use
    kill -9 ${pids[0]}     # node A (or ${pids[1]}, node B): the window carries on through the other node

MSG
if [ -n "${KMCR_DEMO_TIMEOUT:-}" ]; then
  timeout "$KMCR_DEMO_TIMEOUT" bin/kmcr --data-dir "$cli" || true
else
  bin/kmcr --data-dir "$cli"
fi
