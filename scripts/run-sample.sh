#!/usr/bin/env bash
# Run the sample function app on the local dev host (http://127.0.0.1:7071).
# Azurite is started automatically for UseDevelopmentStorage=true; pass --storage memory to skip it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/node_modules/.bin:$PATH"
exec .venv/bin/durable-ext start function_app_sample "$@"
