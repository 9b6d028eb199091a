"""Starts, restarts and stops the demo server's replicas for the cluster suite (standard library only).

run.sh uses it as a command:

    python3 cluster_ctl.py up STATE_DIR --binary BIN --backend redis://127.0.0.1:PORT --replicas 3 --key KEY
                                        (or --backend postgres://mcp@127.0.0.1:PORT/mcp?sslmode=disable)
    python3 cluster_ctl.py down STATE_DIR
    python3 cluster_ctl.py nginx STATE_DIR   (Tests/interop/conformance.sh: starts nginx in front of STATE_DIR's
                                              replicas as `start_nginx` does, prints its port and leaves it
                                              running; stop it by STATE_DIR/nginx.pid)

`--binary` may name any binary with mcp-demo-server's flags (conformance.sh starts mcp-conformance-server).

`up` picks a free loopback port per replica, starts `mcp-demo-server --backend ... --replica-id rK --key KEY
--port P` for r1 .. rN (each in a session of its own, so that it outlives this command; its output is
appended to STATE_DIR/rK.log), waits for `GET /healthz`, and writes STATE_DIR/replicas.json. Each replica's
current pid is kept in STATE_DIR/rK.pid, which `down` (and run.sh's trap) reads, so a replica restarted by a
test is stopped too.

The tests import it to restart a replica in place (same port, other keys): `restart(state_dir, "r2",
keys=[...])` stops the running process (SIGTERM, then SIGKILL after a grace period), starts the new one and
waits until it is healthy. `restart(..., extra_args=[...])` (and `start`) also gives that one replica flags of its
own, after the ones `up --extra-arg` gave every replica (e.g. `["--no-task-rerun"]`); they are kept in
replicas.json for its later restarts until a restart with `extra_args=[]` removes them.

Tests that need replicas of their own (other flags, e.g. the authorization tests) call `up(...)` with another
state dir (a subdirectory of the cluster's, so that `down` of the cluster's dir stops them too) and another
`id_prefix` (replica ids must be unique on the shared backend), and put an nginx of their own in front of them
with `start_nginx` / `stop_nginx`, which render nginx.conf.template exactly as run.sh does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

STATE_FILE = "replicas.json"


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def healthy(port: int, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as r:
            return r.status == 200
    except (OSError, urllib.error.URLError):
        return False


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a reparented zombie may never be reaped here)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def shared_backend(backend: str) -> bool:
    """True when replicas started with `--backend backend` share their state (redis://, rediss://, postgres://, ...):
    every backend but the in-process `memory`."""
    return backend.strip() != "memory"


def load(state_dir: Path) -> dict[str, Any]:
    return json.loads((state_dir / STATE_FILE).read_text())


def save(state_dir: Path, state: dict[str, Any]) -> None:
    tmp = state_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(state_dir / STATE_FILE)


def argv(state: dict[str, Any], replica: dict[str, Any]) -> list[str]:
    args = [
        state["binary"],
        "--host", "127.0.0.1",
        "--port", str(replica["port"]),
        "--backend", state["backend"],
        "--replica-id", replica["id"],
        "--log-level", state["log_level"],
    ]
    for key in replica["keys"]:
        args += ["--key", key]
    return args + list(state.get("extra_args", [])) + list(replica.get("extra_args", []))  # all replicas', its own


def _spawn(state_dir: Path, state: dict[str, Any], replica: dict[str, Any]) -> int:
    log_path = Path(replica["log"])
    with log_path.open("ab") as log:
        log.write(f"\n=== cluster_ctl {time.strftime('%H:%M:%S')}: starting {' '.join(argv(state, replica))}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv(state, replica),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the command or test that started it; stopped through the pid file
        )
    (state_dir / f"{replica['id']}.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def _wait_healthy(pid: int, replica: dict[str, Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            raise RuntimeError(f"replica {replica['id']} (pid {pid}) exited during startup; see {replica['log']}:\n{tail(replica['log'])}")
        if healthy(replica["port"]):
            return
        time.sleep(0.05)
    raise RuntimeError(f"replica {replica['id']} (pid {pid}) not healthy on port {replica['port']} after {timeout:.0f} s; see {replica['log']}")


def tail(path: str, n: int = 4000) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return ""
    return data[-n:].decode("utf-8", "replace")


def pid_of(state_dir: Path, replica_id: str) -> int | None:
    try:
        return int((state_dir / f"{replica_id}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def stop_pid(pid: int, grace: float = 15.0) -> bool:
    """SIGTERM (a graceful drain), then SIGKILL after `grace` seconds. True when it exited within the grace."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while alive(pid):
        time.sleep(0.02)
    return False


def up(
    state_dir: Path,
    binary: str,
    backend: str,
    replicas: int,
    keys: list[str],
    log_level: str,
    extra_args: list[str],
    id_prefix: str = "r",
) -> dict[str, Any]:
    """Starts replicas <id_prefix>1 .. <id_prefix>N on free ports and waits until each is healthy."""
    state: dict[str, Any] = {
        "binary": binary,
        "backend": backend,
        "log_level": log_level,
        "extra_args": extra_args,
        "replicas": [],
    }
    for attempt in range(3):  # a probed port can be taken before the replica binds it
        ports = free_ports(replicas)
        state["replicas"] = [
            {"id": f"{id_prefix}{k + 1}", "port": port, "keys": list(keys), "log": str(state_dir / f"{id_prefix}{k + 1}.log")}
            for k, port in enumerate(ports)
        ]
        pids = [_spawn(state_dir, state, r) for r in state["replicas"]]
        try:
            for pid, r in zip(pids, state["replicas"]):
                _wait_healthy(pid, r)
        except RuntimeError as exc:
            for pid in pids:
                stop_pid(pid, 5)
            if attempt == 2:
                raise
            print(f"cluster_ctl: {exc}; retrying on other ports", file=sys.stderr)
            continue
        save(state_dir, state)
        return state
    raise AssertionError("unreachable")


def down(state_dir: Path) -> None:
    """Stops every replica of `state_dir` (those its replicas.json names, and any r*.pid), and those of the
    subdirectories that hold a replicas.json of their own (replicas a test started), with their nginx."""
    for sub in sorted(state_dir.glob("*/" + STATE_FILE)):
        down(sub.parent)
        try:
            nginx_pid = int((sub.parent / "nginx.pid").read_text().strip())
        except (OSError, ValueError):
            continue
        if alive(nginx_pid):
            stop_pid(nginx_pid, 5)
    pidfiles = set(state_dir.glob("r*.pid"))
    try:
        pidfiles |= {state_dir / f"{r['id']}.pid" for r in load(state_dir)["replicas"]}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for pidfile in sorted(pidfiles):
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            continue
        if alive(pid):
            if not stop_pid(pid, 10):
                print(f"cluster_ctl: {pidfile.stem} (pid {pid}) ignored SIGTERM for 10 s: killed", file=sys.stderr)


def stop(state_dir: Path, replica_id: str, grace: float = 15.0) -> dict[str, Any]:
    """Stops replica `replica_id` (SIGTERM, SIGKILL after `grace` s) and waits until its port is free.
    Returns {"graceful": exited within the grace, "stopped_s": seconds}."""
    state = load(state_dir)
    replica = next(r for r in state["replicas"] if r["id"] == replica_id)
    t0 = time.monotonic()
    pid = pid_of(state_dir, replica_id)
    graceful = stop_pid(pid, grace) if pid is not None else True
    deadline = time.monotonic() + 10  # the port must be free before a new process binds it
    while port_open(replica["port"]) and time.monotonic() < deadline:
        time.sleep(0.02)
    return {"graceful": graceful, "stopped_s": time.monotonic() - t0}


def start(state_dir: Path, replica_id: str, keys: list[str] | None = None, extra_args: list[str] | None = None) -> dict[str, Any]:
    """Starts replica `replica_id` again on its port (with `keys`, when given; with `extra_args`, when given, as its
    own flags from now on: `[]` removes them) and waits until it is healthy. Returns {"started_s": seconds, "pid": pid}."""
    state = load(state_dir)
    replica = next(r for r in state["replicas"] if r["id"] == replica_id)
    t0 = time.monotonic()
    if keys is not None:
        replica["keys"] = list(keys)
    if extra_args is not None:
        replica["extra_args"] = list(extra_args)
    save(state_dir, state)
    new_pid = _spawn(state_dir, state, replica)
    _wait_healthy(new_pid, replica)
    return {"started_s": time.monotonic() - t0, "pid": new_pid}


def restart(
    state_dir: Path, replica_id: str, keys: list[str] | None = None, grace: float = 15.0, extra_args: list[str] | None = None
) -> dict[str, Any]:
    """stop, then start (`keys`, `extra_args`: as `start`): {"graceful", "stopped_s", "started_s", "pid"}."""
    info = stop(state_dir, replica_id, grace)
    info.update(start(state_dir, replica_id, keys, extra_args))
    return info


# --------------------------------------------------------------------------------------------------
# nginx in front of replicas (what run.sh does, for tests that start replicas of their own)
# --------------------------------------------------------------------------------------------------

NGINX_TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def render_nginx_conf(state_dir: Path, port: int, upstream_ports: list[int], template: Path = NGINX_TEMPLATE) -> Path:
    """Writes state_dir/nginx.conf from the template as run.sh does: @DIR@, @PORT@, and the @SERVERS@ line
    replaced by one `server 127.0.0.1:P max_fails=0;` per upstream port."""
    (state_dir / "nginx-tmp").mkdir(parents=True, exist_ok=True)
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in upstream_ports)
    lines = []
    for line in template.read_text().splitlines():
        line = line.replace("@DIR@", str(state_dir)).replace("@PORT@", str(port))
        lines.append(servers if line == "@SERVERS@" else line)
    conf = state_dir / "nginx.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def start_nginx(state_dir: Path, upstream_ports: list[int], port: int | None = None, timeout: float = 10.0) -> tuple[subprocess.Popen, int]:
    """Runs nginx in the foreground (a child of the caller), its config, pid file, logs and temp files in
    state_dir, on `port` (default: a free one), round robin over `upstream_ports`; waits until its /healthz
    answers through it. Returns (process, port). Stop it with `stop_nginx`."""
    nginx = nginx_binary()
    attempts = 1 if port is not None else 3  # a probed port can be taken before nginx binds it
    last = ""
    for _ in range(attempts):
        p = port if port is not None else free_ports(1)[0]
        conf = render_nginx_conf(state_dir, p, upstream_ports)
        error_log = state_dir / "nginx-error.log"
        base = [nginx, "-e", str(error_log), "-p", str(state_dir), "-c", str(conf), "-g", "daemon off;"]
        check = subprocess.run(base[:1] + ["-t", "-q"] + base[1:], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed for {conf}: {check.stderr.strip()}")
        with error_log.open("ab") as err:
            proc = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if healthy(p, timeout=0.5):
                return proc, p
            time.sleep(0.05)
        stop_nginx(proc)
        last = f"nginx on port {p} did not start: {tail(str(error_log), 1500)}"
    raise RuntimeError(last)


def stop_nginx(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Fast shutdown (SIGTERM), SIGKILL after `timeout`."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up")
    u.add_argument("state_dir", type=Path)
    u.add_argument("--binary", required=True)
    u.add_argument("--backend", required=True)
    u.add_argument("--replicas", type=int, default=3)
    u.add_argument("--key", action="append", required=True)
    u.add_argument("--log-level", default="info")
    u.add_argument("--extra-arg", action="append", default=[])
    d = sub.add_parser("down")
    d.add_argument("state_dir", type=Path)
    n = sub.add_parser("nginx")
    n.add_argument("state_dir", type=Path)
    a = p.parse_args()
    if a.cmd == "up":
        state = up(a.state_dir, a.binary, a.backend, a.replicas, a.key, a.log_level, a.extra_arg)
        for r in state["replicas"]:
            print(f"{r['id']} 127.0.0.1:{r['port']}")
    elif a.cmd == "nginx":
        _proc, port = start_nginx(a.state_dir, [r["port"] for r in load(a.state_dir)["replicas"]])
        print(port)  # nginx keeps running after this command; stop it by STATE_DIR/nginx.pid
    else:
        down(a.state_dir)


if __name__ == "__main__":
    main()
