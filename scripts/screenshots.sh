#!/usr/bin/env bash
# screenshots.sh: photograph every main screen of the real kmcr window, in the
# light and the dark theme, into docs/screenshots/.
#
# It builds kmcr and kmcr-server, seeds synthetic patients (NHS numbers in the
# 999 test range), serves them on 127.0.0.1, enrols a paramedic and a
# front-desk profile with the command line, and runs kmcr on its own Xvfb
# display inside a private D-Bus session with an unlocked gnome-keyring (the
# OS keyring holds each profile's device secret, as on a desktop). kmcr is
# driven by its KMCR_UI_SCRIPT hook (see ui/script.go): at each "shot" step it
# prints a line, this script takes the picture with imagemagick's import and
# acknowledges it through KMCR_UI_SCRIPT_ACK.
#
# Needs the Debian packages xvfb, imagemagick, dbus-x11 (or dbus) and
# gnome-keyring, and Go. Usage: scripts/screenshots.sh [OUT_DIR]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/docs/screenshots}

if [ "${1:-}" != "--inside-session" ]; then
	for tool in Xvfb:xvfb import:imagemagick convert:imagemagick dbus-run-session:dbus-x11 gnome-keyring-daemon:gnome-keyring; do
		command -v "${tool%%:*}" >/dev/null || { echo "screenshots: ${tool%%:*} missing (apt-get install ${tool#*:})" >&2; exit 2; }
	done
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	mkdir -p "$out" "$work/home/.cache" "$work/home/.local/share/keyrings"
	echo "screenshots: building"
	(cd "$root" && go build -tags screenshots -o "$work/kmcr" ./cmd/kmcr && go build -o "$work/kmcr-server" ./cmd/kmcr-server)
	# A private HOME: the keyring and Fyne's preferences start empty and
	# nothing of the user's is touched.
	HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" dbus-run-session -- \
		"$0" --inside-session "$work" "$out"
	exit $?
fi

work=$2
out=$3
echo "${KEYRING_PASSWORD:-screenshots}" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
export LANG=en_GB.UTF-8

kmcr=$work/kmcr
srv=$work/server
fhir=$work/fhir

echo "screenshots: seeding and importing synthetic patients"
"$work/kmcr-server" init --data-dir "$srv" --hosts 127.0.0.1 >/dev/null
"$work/kmcr-server" seed --patients 1200 --seed 7 --out "$fhir" >/dev/null
"$work/kmcr-server" import --data-dir "$srv" "$fhir" >/dev/null

# The showcase patient: an active DNACPR or ReSPECT alert, a recorded allergy
# (not "no known allergy") and patient-entered readings.
ids() { grep -o "\"$2\":{\"reference\":\"Patient/[^\"]*\"" "$1" | sed 's/.*Patient\///; s/"$//' | sort -u; }
grep -E '"status":"active"' "$fhir/Flag.000.ndjson" | grep -Ei 'not for CPR|DNACPR' >"$work/flags.ndjson" || true
ids "$work/flags.ndjson" subject >"$work/a"
grep -v '716186003' "$fhir/AllergyIntolerance.000.ndjson" >"$work/allergies.ndjson" || true
ids "$work/allergies.ndjson" patient >"$work/b"
grep 'patient-entered' "$fhir/Observation.000.ndjson" >"$work/pe.ndjson" || true
ids "$work/pe.ndjson" subject >"$work/c"
pid=$(comm -12 "$work/a" "$work/b" | comm -12 - "$work/c" | sed -n 1p)
[ -n "$pid" ] || pid=$(comm -12 "$work/a" "$work/c" | sed -n 1p)
[ -n "$pid" ] || pid=$(comm -12 "$work/a" "$work/b" | sed -n 1p)
nhs_of() { grep "\"id\":\"$1\"" "$fhir/Patient.000.ndjson" | grep -o '"system":"https://fhir.nhs.uk/Id/nhs-number","value":"[0-9]*"' | sed -n 1p | grep -o '[0-9]*"$' | tr -d '"'; }
nhs=$(nhs_of "$pid")
all=$(grep -o '"system":"https://fhir.nhs.uk/Id/nhs-number","value":"[0-9]*"' "$fhir/Patient.000.ndjson" | grep -o '[0-9]*"$' | tr -d '"')
outside=$(echo "$all" | tail -1)             # kept out of every caseload: for the break-glass dialog
caseload=$(echo "$all" | grep -v "^$outside\$")
family=$(grep "\"id\":\"$pid\"" "$fhir/Patient.000.ndjson" | grep -o '"family":"[^"]*"' | sed -n 1p | cut -d'"' -f4)
echo "screenshots: showcase patient $nhs ($family)"

for u in para:paramedic desk:frontdesk; do
	echo "screenshots password" | "$work/kmcr-server" user add --data-dir "$srv" --name "${u%%:*}" --role "${u#*:}" --password-stdin >/dev/null
	# shellcheck disable=SC2086
	"$work/kmcr-server" caseload add --data-dir "$srv" --user "${u%%:*}" --nhs $caseload >/dev/null
done

port=$((20000 + RANDOM % 20000))
"$work/kmcr-server" serve --data-dir "$srv" --addr "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
display=:$((300 + RANDOM % 300))
Xvfb "$display" -screen 0 1280x820x24 -nolisten tcp >/dev/null 2>&1 &
xvfb_pid=$!
trap 'kill $server_pid $xvfb_pid 2>/dev/null || true' EXIT
sleep 1

pass="screenshots passphrase 1"
for u in para desk; do
	printf 'screenshots password\n%s\n' "$pass" | "$kmcr" --data-dir "$work/$u" enrol --server "wss://127.0.0.1:$port" \
		--ca "$srv/ca.pem" --user "$u" --password-stdin --passphrase-stdin >/dev/null 2>"$work/enrol-$u.log" ||
		{ cat "$work/enrol-$u.log" >&2; exit 1; }
done

# run_ui PROFILE SCRIPT: run kmcr with a script, taking each shot it asks for.
run_ui() {
	local ack=$work/ack
	rm -rf "$ack"
	mkdir -p "$ack"
	printf '%s\n' "$2" >"$work/script"
	DISPLAY=$display KMCR_UI_SCRIPT=$work/script KMCR_UI_SCRIPT_ACK=$ack timeout 300 "$kmcr" --data-dir "$1" 2>>"$work/kmcr.log" |
		while read -r line; do
			case $line in
			"kmcr-ui-script: shot "*)
				name=${line#kmcr-ui-script: shot }
				DISPLAY=$display import -window root "$work/$name.png"
				# The window's own size: 1280 x 800 for the 200 % shots, else 1200 x 820.
				case $name in *-200*) geom=1280x800+0+0 ;; *) geom=1200x820+0+0 ;; esac
				# 256 colours keep the files small; text stays crisp.
				convert "$work/$name.png" -crop "$geom" +repage -strip -colors 256 "PNG8:$out/$name.png"
				echo "screenshots: $out/$name.png"
				touch "$ack/$name.done"
				;;
			"kmcr-ui-script: failed")
				echo "screenshots: the UI script failed; see below" >&2
				tail -20 "$work/kmcr.log" >&2
				exit 1
				;;
			esac
		done
}

for theme in light dark; do
	run_ui "$work/para" "theme $theme
size 1200 820
sleep 0.5
shot unlock-$theme
unlock $pass
sleep 0.5
search $family
sleep 0.5
shot search-$theme
search $nhs
open 1
sleep 1
shot summary-$theme
scroll 700
sleep 0.5
shot summary-more-$theme
size 1280 800
text 200
scroll 0
sleep 1
shot summary-200-$theme
scroll 100000
sleep 0.5
shot summary-200-end-$theme
text 100
size 1200 820
scroll 0
breakglass $outside
reason 1 Collapsed in the street, unable to give a history; no relationship on this device
sleep 0.5
shot breakglass-$theme
dismiss
settings
sleep 0.5
shot settings-$theme
quit"
	run_ui "$work/desk" "theme $theme
size 1200 820
unlock $pass
search $nhs
open 1
sleep 1
shot frontdesk-$theme
quit"
	run_ui "$work/new-$theme" "theme $theme
size 1200 820
sleep 0.5
shot enrol-$theme
quit"
done
# The patient portal's pages, at desktop width and a 375 px phone width, in
# Debian's chromium through the browser test (which also runs axe-core).
echo "screenshots: patient portal"
(cd "$root" && KMCR_SCREENSHOTS="$out" go test -count=1 ./server/portal -run '^TestBrowser_CitizenFlow$' >/dev/null)
echo "screenshots: done"
