#!/usr/bin/env bash
# Rebuilds the portal's vendored NHS.UK design system files from the npm
# package pinned by web/package-lock.json. The portal serves these files
# itself (server/portal/assets, embedded in kmcr-server): no CDN. The
# @font-face rules are dropped because they load Frutiger from the NHS's
# CDN; the design system falls back to Arial, as it does when that font
# cannot be fetched.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd web && npm ci --no-audit --no-fund)
dist=web/node_modules/nhsuk-frontend/dist
sed -E 's/@font-face\{[^}]*\}//g' "$dist/nhsuk.min.css" > server/portal/assets/nhsuk.min.css
cp "$dist/nhsuk.min.js" server/portal/assets/nhsuk.min.js
if grep -o 'https\?://[^)"]*' server/portal/assets/nhsuk.min.css | grep -v 'www.w3.org' | grep -q .; then
  echo "portal-assets: the CSS still names an outside address" >&2
  exit 1
fi
echo "portal-assets: nhsuk-frontend $(node -p "require('./web/node_modules/nhsuk-frontend/package.json').version") copied"
