#!/usr/bin/env bash
# Runs the conformance tests (test_conformance_*.py: the server scenarios of the official MCP conformance suite,
# each test marked @pytest.mark.scenario(id, version=..., scored=...)) against mcp-conformance-server, twice, and
# writes docs/conformance.md.
#
#   Tests/interop/conformance.sh [pytest args...]
#
# 1. makes (or reuses) the interop suite's mcp 2.x venv (make_venv of venv.sh, as run.sh does);
# 2. run "one replica": pytest on test_conformance_*.py; the conftest fixture starts the binary itself, one process
#    with --backend memory; its JSON report (conformance_plugin.py, MCP_CONFORMANCE_REPORT) is one-replica.json;
# 3. run "three replicas": a throwaway redis-server (scripts/start-redis), three replicas of the binary on it with
#    one shared --key (Tests/cluster/cluster_ctl.py up --binary ...), a plain round-robin nginx in front of them
#    (cluster_ctl.py nginx: Tests/cluster/nginx.conf.template, as the cluster suite runs it); pytest again with
#    MCP_CONFORMANCE_URL=http://127.0.0.1:<nginx>/mcp; its report is three-replicas.json;
# 4. conformance_report.py reads both reports and conformance-requirements/<version>.json (the server leg of the
#    official requirements files, copied) and writes docs/conformance.md: one table per protocol version;
# 5. stops everything it started (trap) and prints one closing line "conformance: N passed, N failed" (the tests
#    of both runs; a not-scored test that fails is xfailed, not counted as failed).
#
# Exit code: 0 when no scored test failed or errored in either run; 1 when one did (pytest failed, or a scenario
# of a requirements file's `server` list is "fail" in docs/conformance.md), when a run could not start, or when a
# run collected no test. pytest arguments (e.g. -k tools -x) pass through to both runs; the page is then written
# from what ran (its header names the arguments). The build is not part of this script
# (swift build --product mcp-conformance-server). Environment:
#   MCP_CONFORMANCE_SERVER_BIN  the binary (default: <repo>/.build/debug/mcp-conformance-server)
#   MCP_CONFORMANCE_RUNS        which runs (default: "single cluster")
#   MCP_CONFORMANCE_REPORT_DIR  where the JSON reports go (default: <repo>/.build/conformance)
#   MCP_CONFORMANCE_DOC         the page to write (default: <repo>/docs/conformance.md; "-": none)
#   MCP_CONFORMANCE_LOG_LEVEL   the three replicas' --log-level (default: info; the single one logs at
#                               MCP_DEMO_SERVER_LOG_LEVEL, default debug, like every server of the interop suite)
#   MCP_CONFORMANCE_KEEP        1: keep the cluster run's temp dir (replica, redis and nginx logs); kept (and named)
#                               anyway when that run failed
#   MCP_DEMO_SERVER_ARGS        extra flags for every server started (the single one and the three replicas)
#   MCP_INTEROP_VENV            the mcp 2.x venv (default: Tests/interop/.venv, from requirements.txt)
#   PYTHON                      interpreter used to create the venv and run cluster_ctl.py (default: python3)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CLUSTER=$ROOT/Tests/cluster
PY=${PYTHON:-python3}
BIN=${MCP_CONFORMANCE_SERVER_BIN:-$ROOT/.build/debug/mcp-conformance-server}
RUNS=${MCP_CONFORMANCE_RUNS:-single cluster}
REPORTS=${MCP_CONFORMANCE_REPORT_DIR:-$ROOT/.build/conformance}
DOC=${MCP_CONFORMANCE_DOC:-$ROOT/docs/conformance.md}
LOG_LEVEL=${MCP_CONFORMANCE_LOG_LEVEL:-info}
VENV=${MCP_INTEROP_VENV:-$HERE/.venv}

log() { printf 'conformance: %s\n' "$*" >&2; }

# --- the cluster: redis, three replicas, nginx ------------------------------------------------------------------
start_cluster() {
    STATE=$(mktemp -d "${TMPDIR:-/tmp}/mcp-conformance.XXXXXX")
    local redis_env backend key extra=()
    redis_env=$("$ROOT/scripts/start-redis") || return 1
    REDIS_PIDFILE=$(sed -n 's/^REDIS_PIDFILE=//p' <<<"$redis_env")
    backend="redis://$(sed -n 's/^REDIS_HOSTNAME=//p' <<<"$redis_env"):$(sed -n 's/^REDIS_PORT=//p' <<<"$redis_env")"
    key=$("$PY" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
    for arg in ${MCP_DEMO_SERVER_ARGS:-}; do extra+=("--extra-arg=$arg"); done
    log "starting 3 replicas of $BIN (--backend $backend, one shared key; logs in $STATE)"
    "$PY" "$CLUSTER/cluster_ctl.py" up "$STATE" --binary "$BIN" --backend "$backend" --replicas 3 --key "$key" \
        --log-level "$LOG_LEVEL" "${extra[@]}" >"$STATE/replicas.txt" || return 1
    sed 's/^/conformance:   /' "$STATE/replicas.txt" >&2
    NGINX_PIDFILE=$STATE/nginx.pid
    NGINX_PORT=$("$PY" "$CLUSTER/cluster_ctl.py" nginx "$STATE") || return 1
    log "nginx on 127.0.0.1:$NGINX_PORT, round robin over the replicas"
}

stop_cluster() {
    if [ -n "$NGINX_PIDFILE" ] && [ -s "$NGINX_PIDFILE" ]; then
        local pid
        pid=$(cat "$NGINX_PIDFILE")
        if kill -QUIT "$pid" 2>/dev/null; then  # graceful stop of the master and its workers
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -TERM "$pid" 2>/dev/null
        fi
    fi
    NGINX_PIDFILE=
    [ -z "$STATE" ] || "$PY" "$CLUSTER/cluster_ctl.py" down "$STATE"
    if [ -n "$REDIS_PIDFILE" ]; then "$ROOT/scripts/stop-redis" "$REDIS_PIDFILE" >/dev/null 2>&1; fi
    REDIS_PIDFILE=
    if [ -n "$STATE" ]; then
        if [ "${MCP_CONFORMANCE_KEEP:-0}" = 1 ] || [ "$CLUSTER_FAILED" = 1 ]; then
            log "cluster run: replica and nginx logs kept in $STATE"
        else
            rm -rf "$STATE"
        fi
    fi
    STATE=
}

# --- before anything is started ---------------------------------------------------------------------------------
shopt -s nullglob
FILES=("$HERE"/test_conformance_*.py)
shopt -u nullglob
SUMMARY_LINE=
STATE=
NGINX_PIDFILE=
REDIS_PIDFILE=
CLUSTER_FAILED=0

# shellcheck disable=SC2317  # called by the trap
cleanup() {
    local rc=$?
    set +e
    [ "$rc" -eq 0 ] || CLUSTER_FAILED=1  # interrupted: keep the cluster's logs
    stop_cluster
    echo "${SUMMARY_LINE:-conformance: 0 passed, 1 failed}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ -x "$BIN" ] || { log "server binary $BIN not found (swift build --product mcp-conformance-server, or set MCP_CONFORMANCE_SERVER_BIN)"; exit 2; }
[ ${#FILES[@]} -gt 0 ] || { log "no $HERE/test_conformance_*.py"; exit 1; }
for run in $RUNS; do
    case $run in single | cluster) ;; *) log "unknown run '$run' in MCP_CONFORMANCE_RUNS (single, cluster)"; exit 2 ;; esac
done

# shellcheck source=venv.sh
. "$HERE/venv.sh"
make_venv "$VENV" "$HERE/requirements.txt"
mkdir -p "$REPORTS"
SINGLE_REPORT=$REPORTS/one-replica.json
CLUSTER_REPORT=$REPORTS/three-replicas.json
rm -f "$SINGLE_REPORT" "$CLUSTER_REPORT"  # a run that does not happen (or crashes) is "not run", never stale
summary=$REPORTS/pytest-output.txt
: >"$summary"
codes=()

run_pytest() {  # run_pytest <report> [VAR=value ...]: pytest on the conformance files, its output also in $summary
    local report=$1 rc=0
    shift
    env "$@" MCP_CONFORMANCE_REPORT="$report" "$VENV/bin/python" -m pytest -c "$HERE/pytest.ini" --rootdir "$HERE" \
        "${FILES[@]}" "${PYTEST_ARGS[@]}" | tee -a "$summary" || rc=${PIPESTATUS[0]}
    codes+=("$rc")
    return 0
}
PYTEST_ARGS=("$@")

# --- the runs ---------------------------------------------------------------------------------------------------
for run in $RUNS; do
    if [ "$run" = single ]; then
        echo "=== conformance: one replica ($(basename "$BIN"), --backend memory, started by the fixture) ==="
        run_pytest "$SINGLE_REPORT" -u MCP_CONFORMANCE_URL MCP_CONFORMANCE_SERVER_BIN="$BIN"
    else
        echo "=== conformance: three replicas on one Redis behind a round-robin nginx ==="
        if start_cluster; then
            run_pytest "$CLUSTER_REPORT" MCP_CONFORMANCE_URL="http://127.0.0.1:$NGINX_PORT/mcp" MCP_CONFORMANCE_SERVER_BIN="$BIN"
            [ "${codes[-1]}" -eq 0 ] || CLUSTER_FAILED=1
        else
            log "the cluster did not start"
            CLUSTER_FAILED=1
            codes+=(1)
        fi
        set +e
        stop_cluster
        set -e
    fi
done

# --- the page and the closing line --------------------------------------------------------------------------------
report_rc=0  # the page's generator also judges the scored scenarios (by the requirements files, not the marks)
shown=()  # the pytest arguments that change what ran (not -q, -v, ...), for the page's header
for arg in "${PYTEST_ARGS[@]}"; do [[ $arg =~ ^-(q+|v+|r[a-zA-Z]*)$ ]] || shown+=("$arg"); done
note=
[ ${#shown[@]} -eq 0 ] || note="pytest arguments: \`${shown[*]}\`."
out=$DOC
[ "$DOC" != - ] || out=/dev/null
"$VENV/bin/python" "$HERE/conformance_report.py" --column "one replica=$SINGLE_REPORT" \
    --column "three replicas=$CLUSTER_REPORT" --out "$out" --note "$note" || report_rc=$?

count() {  # count <word>: the sum of "N <word>" over pytest's closing lines of both runs
    { grep -E '^=* ?[0-9]+ (passed|failed|errors?|skipped|xfailed|xpassed)|in [0-9.]+s' "$summary" || true; } \
        | { grep -Eo "[0-9]+ $1" || true; } | awk '{n += $1} END {print n + 0}'
}
passed=$(count passed)
failed=$(( $(count failed) + $(count 'errors?') ))
final=0
for rc in "${codes[@]}"; do [ "$rc" -eq 0 ] || final=1; done
[ "$report_rc" -eq 0 ] || final=1
if [ "$final" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
log "runs: $RUNS; exit codes: ${codes[*]}; reports in $REPORTS$([ "$DOC" = - ] || echo "; page $DOC")"
SUMMARY_LINE="conformance: $passed passed, $failed failed ($(count xfailed) not-scored xfailed, $(count xpassed) not-scored xpassed)"
exit "$final"
