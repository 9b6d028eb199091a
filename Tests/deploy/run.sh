#!/usr/bin/env bash
# Checks the example Kubernetes manifests in deploy/kubernetes (test_manifests.py).
#
#   Tests/deploy/run.sh [pytest args...]
#
# Creates the venv Tests/deploy/.venv from requirements.txt (again whenever that file changes). Environment:
#   MCP_DEMO_SERVER_BIN  binary whose --help lists the flags the server accepts
#                        (default: <repo>/.build/debug/mcp-demo-server; that one check is skipped without it)
#   PYTHON               interpreter used to create the venv (default: python3)
# Exits with pytest's status, except that "no tests collected" (5) is reported as a failure (1).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${PYTHON:-python3}
VENV=$HERE/.venv

if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$HERE/requirements.txt" "$VENV/.requirements.txt"; then
    if ! "$PY" -m venv --clear "$VENV"; then
        echo "run.sh: '$PY -m venv' failed (on Debian: apt-get install python3-venv)" >&2
        exit 2
    fi
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r "$HERE/requirements.txt"
    cp "$HERE/requirements.txt" "$VENV/.requirements.txt"
fi

rc=0
"$VENV/bin/python" -m pytest --rootdir "$HERE" -p no:cacheprovider -rfEsx "$HERE" "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    echo "run.sh: pytest collected no tests; counting that as a failure" >&2
    exit 1
fi
exit "$rc"
