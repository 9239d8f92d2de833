#!/usr/bin/env bash
# Install what the project needs into .venv and node_modules (idempotent, quick when done).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test,bench]"
  touch "$stamp"
fi
if [ ! -x node_modules/.bin/azurite ]; then
  npm install --no-audit --no-fund --loglevel=error
fi
