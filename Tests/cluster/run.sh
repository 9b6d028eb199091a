#!/usr/bin/env bash
# Runs the multi-replica suite: "any replica serves any request".
#
#   Tests/cluster/run.sh [pytest args...]
#
# 1. installs nginx and redis-server (or postgresql, with MCP_CLUSTER_BACKEND=postgres) from Debian when missing;
# 2. starts a throwaway redis-server on a free loopback port (scripts/start-redis), or a throwaway PostgreSQL
#    (scripts/start-postgres) with MCP_CLUSTER_BACKEND=postgres;
# 3. starts the replicas r1 r2 r3 of mcp-demo-server (--backend redis://... or postgres://..., one shared --key) on
#    free ports (cluster_ctl.py);
# 4. starts nginx (a foreground child of this script, its config, pid file and logs in a temp dir) on a free
#    port: plain round robin over the replicas, no affinity, proxy_buffering off (nginx.conf.template);
# 5. runs pytest in the interop suite's venvs: the mcp 2.x venv runs everything but test_mcp1_*.py, the mcp 1.x
#    venv runs test_mcp1_*.py (the same arguments to both);
# 6. stops everything it started (trap), logs the backend ("cluster: backend redis (redis://127.0.0.1:P)") and
#    prints one closing line "cluster: N passed, N failed".
#
# The build is not part of this script (swift build --product mcp-demo-server). Environment:
#   MCP_DEMO_SERVER_BIN    server binary (default: <repo>/.build/debug/mcp-demo-server)
#   MCP_INTEROP_VENV       the mcp 2.x venv (default: Tests/interop/.venv, made from Tests/interop/requirements.txt)
#   MCP_INTEROP_VENV_V1    the mcp 1.x venv (default: Tests/interop/.venv-v1, from requirements-v1.txt)
#   MCP_CLUSTER_SUITES     which venvs to run (default: "v2 v1")
#   MCP_CLUSTER_REPLICAS   how many replicas (default 3)
#   MCP_CLUSTER_BACKEND    "redis" (default): a throwaway redis-server; "postgres": a throwaway PostgreSQL (TLS on,
#                          the replicas connect with sslmode=disable); "redis-tls" / "postgres-tls": the same
#                          servers, the replicas connecting over TLS (rediss://127.0.0.1:TLS_PORT?cacert=CA,
#                          postgres://...?sslmode=verify-full&sslrootcert=CA); "memory": only makes sense with
#                          MCP_CLUSTER_REPLICAS=1, to try the harness itself against a single process; anything else
#                          is passed to --backend as it is (e.g. the URL of a server of your own)
#   MCP_CLUSTER_LOG_LEVEL  the replicas' --log-level (default debug)
#   MCP_CLUSTER_KEEP       1: keep the temp dir (logs, nginx config) after the run
#   PYTHON                 interpreter used to create the venvs (default python3)
# The tests see the backend's URL as MCP_CLUSTER_BACKEND_URL (and, as before, as MCP_CLUSTER_REDIS).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
INTEROP=$ROOT/Tests/interop
PY=${PYTHON:-python3}
BIN=${MCP_DEMO_SERVER_BIN:-$ROOT/.build/debug/mcp-demo-server}
SUITES=${MCP_CLUSTER_SUITES:-v2 v1}
REPLICAS=${MCP_CLUSTER_REPLICAS:-3}
BACKEND_KIND=${MCP_CLUSTER_BACKEND:-redis}
LOG_LEVEL=${MCP_CLUSTER_LOG_LEVEL:-debug}

log() { printf 'cluster: %s\n' "$*" >&2; }

[ -x "$BIN" ] || { log "server binary $BIN not found (swift build --product mcp-demo-server, or set MCP_DEMO_SERVER_BIN)"; exit 2; }

# --- Debian packages -------------------------------------------------------------------------------------------
need_apt=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
if [ "$BACKEND_KIND" = redis ] || [ "$BACKEND_KIND" = redis-tls ]; then
    { command -v redis-server >/dev/null && command -v redis-cli >/dev/null; } || need_apt+=(redis-server)
fi
if [ "$BACKEND_KIND" = postgres ] || [ "$BACKEND_KIND" = postgres-tls ]; then  # what scripts/start-postgres looks for
    pg_found=0
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && pg_found=1; done
    { [ "$pg_found" = 1 ] || { command -v initdb >/dev/null && command -v pg_ctl >/dev/null; }; } || need_apt+=(postgresql)
fi
command -v "$PY" >/dev/null || need_apt+=(python3)
if command -v "$PY" >/dev/null && ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then need_apt+=(python3-venv); fi
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing ${need_apt[*]} from Debian"
    sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >&2
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# --- venvs (the interop suite's, made the same way as Tests/interop/run.sh makes them) ------------------------
make_venv() {  # make_venv <venv dir> <requirements file>
    local venv=$1 req=$2
    if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/.interop-requirements.txt"; then
        log "making venv $venv from $req"
        if ! "$PY" -m venv --clear "$venv"; then
            log "'$PY -m venv' failed (on Debian: apt-get install python3-venv)"
            exit 2
        fi
        "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$req"
        cp "$req" "$venv/.interop-requirements.txt"
    fi
}
for suite in $SUITES; do
    case $suite in
        v2) make_venv "${MCP_INTEROP_VENV:-$INTEROP/.venv}" "$INTEROP/requirements.txt" ;;
        v1) make_venv "${MCP_INTEROP_VENV_V1:-$INTEROP/.venv-v1}" "$INTEROP/requirements-v1.txt" ;;
        *) log "unknown suite '$suite' in MCP_CLUSTER_SUITES"; exit 2 ;;
    esac
done

# --- everything below is stopped by the trap ---------------------------------------------------------------------
STATE=$(mktemp -d "${TMPDIR:-/tmp}/mcp-cluster.XXXXXX")
NGINX_PID=
REDIS_PIDFILE=
POSTGRES_DIR=
BACKEND=
SUMMARY_LINE=
summary=$STATE/pytest-summary.txt
: >"$summary"

cleanup() {
    local rc=$?
    set +e
    if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null   # graceful stop of the master and its workers
        for _ in $(seq 1 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -TERM "$NGINX_PID" 2>/dev/null
        wait "$NGINX_PID" 2>/dev/null
    fi
    "$PY" "$HERE/cluster_ctl.py" down "$STATE"
    if [ -n "$REDIS_PIDFILE" ]; then
        if [ -x "$ROOT/scripts/stop-redis" ]; then
            "$ROOT/scripts/stop-redis" "$REDIS_PIDFILE"
        elif [ -f "$REDIS_PIDFILE" ]; then
            kill "$(cat "$REDIS_PIDFILE")" 2>/dev/null
        fi
    fi
    if [ -n "$POSTGRES_DIR" ]; then
        cp "$POSTGRES_DIR/postgres.log" "$STATE/postgres.log" 2>/dev/null  # kept with the replicas' logs
        "$ROOT/scripts/stop-postgres" "$POSTGRES_DIR"
    fi
    if [ "${MCP_CLUSTER_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
        log "logs kept in $STATE"
    else
        rm -rf "$STATE"
    fi
    # the closing line, last of all (a run that never got to pytest counts as one failure), after the backend
    log "backend $BACKEND_KIND${BACKEND:+ ($BACKEND)}"
    echo "${SUMMARY_LINE:-cluster: 0 passed, 1 failed}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the backend: redis, postgres, or as given --------------------------------------------------------------------
if [ "$BACKEND_KIND" = redis-tls ]; then
    redis_env=$("$ROOT/scripts/start-redis" --tls)
    REDIS_PIDFILE=$(sed -n 's/^REDIS_PIDFILE=//p' <<<"$redis_env")
    REDIS_TLS_PORT=$(sed -n 's/^REDIS_TLS_PORT=//p' <<<"$redis_env")
    BACKEND="rediss://127.0.0.1:$REDIS_TLS_PORT?cacert=$(sed -n 's/^REDIS_CERTS=//p' <<<"$redis_env")/ca.pem"
    log "redis-server on 127.0.0.1:$REDIS_TLS_PORT (TLS)"
elif [ "$BACKEND_KIND" = redis ]; then
    if [ -x "$ROOT/scripts/start-redis" ]; then
        redis_env=$("$ROOT/scripts/start-redis")
        REDIS_HOSTNAME=$(sed -n 's/^REDIS_HOSTNAME=//p' <<<"$redis_env")
        REDIS_PORT=$(sed -n 's/^REDIS_PORT=//p' <<<"$redis_env")
        REDIS_PIDFILE=$(sed -n 's/^REDIS_PIDFILE=//p' <<<"$redis_env")
    else
        REDIS_HOSTNAME=127.0.0.1
        REDIS_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        REDIS_PIDFILE=$STATE/redis.pid
        redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --daemonize yes \
            --dir "$STATE" --pidfile "$REDIS_PIDFILE" --logfile "$STATE/redis.log"
        for _ in $(seq 1 100); do
            [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
            sleep 0.1
        done
    fi
    BACKEND=redis://$REDIS_HOSTNAME:$REDIS_PORT
    log "redis-server on $REDIS_HOSTNAME:$REDIS_PORT"
elif [ "$BACKEND_KIND" = postgres ] || [ "$BACKEND_KIND" = postgres-tls ]; then
    pg_env=$("$ROOT/scripts/start-postgres")
    POSTGRES_DIR=$(sed -n 's/^POSTGRES_DIR=//p' <<<"$pg_env")
    BACKEND=$(sed -n 's/^POSTGRES_URL=//p' <<<"$pg_env")
    [ -n "$BACKEND" ] || { log "scripts/start-postgres printed no POSTGRES_URL"; exit 1; }
    if [ "$BACKEND_KIND" = postgres-tls ]; then
        BACKEND="${BACKEND%%\?*}?sslmode=verify-full&sslrootcert=$(sed -n 's/^POSTGRES_CERTS=//p' <<<"$pg_env")/ca.pem"
    fi
    log "postgres on $(sed -n 's/^POSTGRES_HOST=//p' <<<"$pg_env"):$(sed -n 's/^POSTGRES_PORT=//p' <<<"$pg_env") ($POSTGRES_DIR)"
else
    BACKEND=$BACKEND_KIND
fi

# --- replicas ---------------------------------------------------------------------------------------------------
KEY=$("$PY" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
log "starting $REPLICAS replicas of $BIN (--backend $BACKEND, one shared key)"
"$PY" "$HERE/cluster_ctl.py" up "$STATE" --binary "$BIN" --backend "$BACKEND" --replicas "$REPLICAS" \
    --key "$KEY" --log-level "$LOG_LEVEL" >"$STATE/replicas.txt"
sed 's/^/cluster:   /' "$STATE/replicas.txt" >&2

# --- nginx ------------------------------------------------------------------------------------------------------
mkdir -p "$STATE/nginx-tmp"
servers=$(awk '{print "        server " $2 " max_fails=0;"}' "$STATE/replicas.txt")
start_nginx() {
    NGINX_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    awk -v dir="$STATE" -v port="$NGINX_PORT" -v servers="$servers" '
        { gsub(/@DIR@/, dir); gsub(/@PORT@/, port); if ($0 == "@SERVERS@") $0 = servers; print }
    ' "$HERE/nginx.conf.template" >"$STATE/nginx.conf"
    "$NGINX" -t -q -e "$STATE/nginx-error.log" -p "$STATE" -c "$STATE/nginx.conf" -g 'daemon off;' >&2 || return 1
    "$NGINX" -e "$STATE/nginx-error.log" -p "$STATE" -c "$STATE/nginx.conf" -g 'daemon off;' 2>>"$STATE/nginx-error.log" &
    NGINX_PID=$!
    for _ in $(seq 1 100); do
        kill -0 "$NGINX_PID" 2>/dev/null || return 1
        if "$PY" -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:$NGINX_PORT/healthz', timeout=1).status != 200)" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}
started=0
for attempt in 1 2 3; do  # the probed port can be taken before nginx binds it
    if start_nginx; then started=1; break; fi
    log "nginx did not start on port $NGINX_PORT (attempt $attempt):"
    tail -5 "$STATE/nginx-error.log" >&2 || true
    kill "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null || true
    NGINX_PID=
done
[ "$started" = 1 ] || { log "could not start nginx"; exit 1; }
log "nginx (pid $NGINX_PID) on 127.0.0.1:$NGINX_PORT, round robin over $(wc -l <"$STATE/replicas.txt") replicas"

export MCP_CLUSTER_STATE=$STATE
export MCP_CLUSTER_NGINX_URL=http://127.0.0.1:$NGINX_PORT
export MCP_CLUSTER_NGINX_PID=$NGINX_PID  # tests take a replica out of rotation: edit nginx.conf, SIGHUP
export MCP_CLUSTER_BACKEND_URL=$BACKEND
export MCP_CLUSTER_REDIS=$BACKEND  # the old name, kept for compatibility

# --- pytest -----------------------------------------------------------------------------------------------------
codes=()
cd "$HERE"
for suite in $SUITES; do
    case $suite in
        v2) venv=${MCP_INTEROP_VENV:-$INTEROP/.venv} ;;
        v1) venv=${MCP_INTEROP_VENV_V1:-$INTEROP/.venv-v1} ;;
    esac
    echo "=== cluster suite $suite ($("$venv/bin/python" -c 'import importlib.metadata as m; print("mcp", m.version("mcp"))')) ==="
    rc=0
    "$venv/bin/python" -m pytest -c "$HERE/pytest.ini" --rootdir "$HERE" "$HERE" "$@" | tee -a "$summary" || rc=${PIPESTATUS[0]}
    codes+=("$rc")
done

# pytest's closing line only, e.g. "==== 3 failed, 15 passed, 1 skipped in 9.12s ====" (or without the = with -q)
total() { { grep -E '^(=+ )?[0-9]+ [a-z]+(, [0-9]+ [a-z]+)* in [0-9.]+s( \([0-9:]+\))?( =+)?$' "$summary" || true; } | { grep -Eo "[0-9]+ $1" || true; } | awk '{n += $1} END {print n + 0}'; }
passed=$(total passed); failed=$(total failed); errors=$(total 'errors?')
final=5  # pytest's "no tests collected"
for rc in "${codes[@]}"; do
    if [ "$rc" -ne 5 ] && { [ "$final" -eq 5 ] || [ "$rc" -gt "$final" ]; }; then final=$rc; fi
done
[ "$final" -ne 0 ] && [ "$final" -ne 5 ] && [ $((failed + errors)) -eq 0 ] && failed=1  # e.g. a crashed run
SUMMARY_LINE="cluster: $passed passed, $((failed + errors)) failed"
exit "$final"
