#!/usr/bin/env bash
# Runs the external interop suite (official MCP Python SDK client vs. the Swift demo server).
#
#   Tests/interop/run.sh [pytest args...]
#
# Creates (or refreshes, when requirements.txt changed) a venv of its own with the pinned
# requirements, then runs pytest. Environment:
#   MCP_DEMO_SERVER_BIN   server binary (default: <repo>/.build/debug/mcp-demo-server)
#   MCP_INTEROP_VENV      where the venv lives (default: Tests/interop/.venv)
#   PYTHON                interpreter used to create the venv (default: python3; needs >= 3.10 and venv)
#   MCP_INTEROP_WIRE_DUMP write every captured HTTP exchange as JSON lines to this file
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=${MCP_INTEROP_VENV:-$HERE/.venv}
PY=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$HERE/requirements.txt" "$VENV/.interop-requirements.txt"; then
    if ! "$PY" -m venv --clear "$VENV"; then
        echo "run.sh: '$PY -m venv' failed (on Debian: apt-get install python3-venv)" >&2
        exit 2
    fi
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r "$HERE/requirements.txt"
    cp "$HERE/requirements.txt" "$VENV/.interop-requirements.txt"
fi

cd "$HERE"
exec "$VENV/bin/python" -m pytest -c "$HERE/pytest.ini" --rootdir "$HERE" "$HERE" "$@"
