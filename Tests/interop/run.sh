#!/usr/bin/env bash
# Runs the external interop suite (official MCP Python SDK clients vs. the Swift demo server).
#
#   Tests/interop/run.sh [pytest args...]
#
# Two venvs, each created (or refreshed, when its requirements file changed) from pinned requirements:
#   v2: requirements.txt     (mcp 2.x): the 2026-07-28 tests, mcp 2.x legacy mode, raw legacy HTTP,
#                            the mixed modern + legacy test, and the validator self-checks
#   v1: requirements-v1.txt  (mcp 1.x, legacy only): test_legacy_mcp1_*.py
# test_conformance_*.py (against mcp-conformance-server) are left out: conformance.sh runs them.
# pytest runs once per venv (the same arguments to both); the exit code is the worse of the two
# ("no tests collected" in one of them does not count when the other ran tests). Environment:
#   MCP_DEMO_SERVER_BIN   server binary (default: <repo>/.build/debug/mcp-demo-server)
#   MCP_DEMO_SERVER_ARGS  extra flags for every server the suite starts (e.g. --event-loop-executor)
#   MCP_INTEROP_VENV      where the v2 venv lives (default: Tests/interop/.venv)
#   MCP_INTEROP_VENV_V1   where the v1 venv lives (default: Tests/interop/.venv-v1)
#   MCP_INTEROP_SUITES    which venvs to run (default: "v2 v1")
#   PYTHON                interpreter used to create the venvs (default: python3; needs >= 3.10 and venv)
#   MCP_INTEROP_WIRE_DUMP write every captured HTTP exchange as JSON lines to this file (the v1 run
#                         writes to <file>.v1)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # read by make_venv (venv.sh)
PY=${PYTHON:-python3}
SUITES=${MCP_INTEROP_SUITES:-v2 v1}

# make_venv <venv dir> <requirements file> (shared with conformance.sh)
# shellcheck source=venv.sh
. "$HERE/venv.sh"

cd "$HERE"
codes=()
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
for suite in $SUITES; do
    case $suite in
        v2) venv=${MCP_INTEROP_VENV:-$HERE/.venv}; req=$HERE/requirements.txt ;;
        v1) venv=${MCP_INTEROP_VENV_V1:-$HERE/.venv-v1}; req=$HERE/requirements-v1.txt ;;
        *) echo "run.sh: unknown suite '$suite' in MCP_INTEROP_SUITES" >&2; exit 2 ;;
    esac
    make_venv "$venv" "$req"
    echo "=== interop suite $suite ($(basename "$req")) ==="
    dump=${MCP_INTEROP_WIRE_DUMP:-}
    if [ "$suite" = v1 ] && [ -n "$dump" ]; then dump=$dump.v1; fi
    rc=0
    MCP_INTEROP_WIRE_DUMP=$dump "$venv/bin/python" -m pytest -c "$HERE/pytest.ini" --rootdir "$HERE" "$HERE" \
        --ignore-glob "$HERE/test_conformance_*.py" "$@" \
        | tee -a "$summary" || rc=${PIPESTATUS[0]}
    codes+=("$rc")
done

# One line with the totals of both runs (scripts/test reads the last "N passed" / "N failed").
total() { grep -E '^=* ?[0-9]+ (passed|failed|errors?)|in [0-9.]+s' "$summary" | grep -Eo "[0-9]+ $1" | awk '{n += $1} END {print n + 0}'; }
echo "=== interop total ($SUITES): $(total passed) passed, $(total failed) failed, $(total 'errors?') errors ==="

final=5  # pytest's "no tests collected"
for rc in "${codes[@]}"; do
    if [ "$rc" -ne 5 ] && { [ "$final" -eq 5 ] || [ "$rc" -gt "$final" ]; }; then
        final=$rc
    fi
done
exit "$final"
