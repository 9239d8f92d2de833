#!/usr/bin/env sh
# Start Azurite by hand on the standard ports (blob 10000, queue 10001, table 10002), bound to
# 127.0.0.1, telemetry off, data in a temporary folder removed on exit.
# Then use the connection string UseDevelopmentStorage=true.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
azurite="$here/node_modules/.bin/azurite"
[ -x "$azurite" ] || azurite=$(command -v azurite) || { echo "azurite not found: run npm install azurite" >&2; exit 1; }
data=$(mktemp -d "${TMPDIR:-/tmp}/azurite-XXXXXX")
trap 'rm -rf "$data"' EXIT INT TERM
"$azurite" --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 \
  --location "$data" --disableTelemetry --skipApiVersionCheck --loose "$@"
