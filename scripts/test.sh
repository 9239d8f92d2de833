#!/usr/bin/env bash
# Run the whole test suite. Installs what it needs; the test session starts Azurite itself
# (127.0.0.1, free ports, temp data folder, --disableTelemetry) and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
