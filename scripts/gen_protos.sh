#!/usr/bin/env bash
# Regenerate the protobuf code under azure_durable_ext/_proto from protos/.
# tests/test_protos.py checks the committed files equal a fresh generation.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
for proto in protos/*.proto; do
  "$PY" -m grpc_tools.protoc -Iprotos --python_out=azure_durable_ext/_proto --pyi_out=azure_durable_ext/_proto "$proto"
done
