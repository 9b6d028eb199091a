"""The cluster a phase runs against, all on 127.0.0.1: a throwaway store, redis-server (scripts/start-redis) or
PostgreSQL (scripts/start-postgres, with `--backend postgres`), replicas r1..rN
of mcp-demo-server sharing one key, and a round-robin nginx in front of them (Tests/cluster/nginx.conf.template, the
cluster suite's config, filled in the same way its run.sh does).

Every process is started in a session of its own and stopped by its process group. Their pids are also written to
`<phase dir>/pids.json`, so that `python cluster.py cleanup RUN_DIR` (scripts/chaos's trap) can stop whatever a crashed
or interrupted run left behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.append(str(ROOT / "Tests" / "cluster"))
from cluster_ctl import alive, free_ports, port_open  # noqa: E402  (the cluster suite's small process helpers)

NGINX_TEMPLATE = ROOT / "Tests" / "cluster" / "nginx.conf.template"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LIFECYCLE_FLAGS = ("--replica-lease-ms", "--drain-delay-ms", "--drain-timeout-ms")


class StartupError(RuntimeError):
    """A process of the cluster did not come up; the message says why (with the tail of its log)."""


def tail(path: Path, n: int = 1500) -> str:
    try:
        return path.read_bytes()[-n:].decode("utf-8", "replace")
    except OSError:
        return ""


def kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def supported_flags(binary: str) -> set[str]:
    """Which of the lifecycle flags the binary knows (from its --help)."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30).stdout
    return {f for f in LIFECYCLE_FLAGS if f in out}


# --------------------------------------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class Redis:
    """A redis-server started by scripts/start-redis; restarted on the same port with the same arguments."""

    port: int = 0
    pidfile: str = ""
    dir: str = ""

    @classmethod
    def start(cls) -> "Redis":
        out = subprocess.run([str(ROOT / "scripts" / "start-redis")], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise StartupError(f"scripts/start-redis failed: {out.stderr.strip()}")
        env = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        return cls(int(env["REDIS_PORT"]), env["REDIS_PIDFILE"], env["REDIS_DIR"])

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def ping(self) -> bool:
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "ping"], capture_output=True, text=True, timeout=5)
        return r.stdout.strip() == "PONG"

    def shutdown_nosave(self) -> None:
        subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), "SHUTDOWN", "NOSAVE"], capture_output=True, timeout=10)

    async def restart(self) -> None:
        """redis-server again on the same port, as scripts/start-redis starts it; returns once it answers PING."""
        subprocess.run(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--daemonize", "yes", "--dir", self.dir, "--pidfile", self.pidfile, "--logfile", f"{self.dir}/redis.log"],
            capture_output=True, timeout=10, check=True,
        )
        with anyio.fail_after(10):
            while not await anyio.to_thread.run_sync(self.ping):
                await anyio.sleep(0.05)

    def stop(self, keep_log: Path) -> None:
        """Stops it (scripts/stop-redis, which also removes its directory), keeping its log."""
        if os.path.exists(f"{self.dir}/redis.log"):
            shutil.copy(f"{self.dir}/redis.log", keep_log)
        subprocess.run([str(ROOT / "scripts" / "stop-redis"), self.pidfile], capture_output=True, timeout=30)

    # -- the store fault's interface (shared with Postgres) -------------------------------------------------------------

    kind = "redis"
    persistent = False   # it comes back empty: started without RDB or AOF
    how_down = "redis-cli SHUTDOWN NOSAVE"
    log_name = "redis.log"

    def go_down(self) -> None:
        self.shutdown_nosave()

    async def come_back(self) -> None:
        await self.restart()

    def pid_record(self, phase_dir: Path) -> None:
        """Where scripts/chaos's trap (cleanup) finds it when the run crashes."""
        (phase_dir / "redis.pidfile").write_text(self.pidfile)


# --------------------------------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class Postgres:
    """A PostgreSQL server started by scripts/start-postgres (TLS on, trust authentication on loopback); the store
    fault stops it with `pg_ctl stop -m immediate` and starts it again on the same port with the same data directory
    (scripts/restart-postgres --down / --up): unlike the redis fault, the data persists (WAL replay, fsync on)."""

    port: int = 0
    dir: str = ""
    url: str = ""
    certs: str = ""

    kind = "postgres"
    persistent = True
    how_down = "pg_ctl stop -m immediate"
    log_name = "postgres.log"

    @classmethod
    def start(cls) -> "Postgres":
        out = subprocess.run([str(ROOT / "scripts" / "start-postgres")], capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise StartupError(f"scripts/start-postgres failed: {out.stderr.strip()[-1500:]}")
        env = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
        return cls(int(env["POSTGRES_PORT"]), env["POSTGRES_DIR"], env["POSTGRES_URL"], env["POSTGRES_CERTS"])

    def _restart_script(self, what: str) -> None:
        out = subprocess.run([str(ROOT / "scripts" / "restart-postgres"), self.dir, what], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise StartupError(f"scripts/restart-postgres {what} failed: {out.stderr.strip()[-1500:]}")

    def go_down(self) -> None:
        """pg_ctl stop -m immediate: every backend killed at once, no checkpoint (a crash, to the clients)."""
        self._restart_script("--down")

    async def come_back(self) -> None:
        """Started again on the same port with the same data; returns once it accepts connections."""
        await anyio.to_thread.run_sync(self._restart_script, "--up")

    def pid_record(self, phase_dir: Path) -> None:
        (phase_dir / "postgres.dir").write_text(self.dir)

    def stop(self, keep_log: Path | None) -> None:
        """Stops it (scripts/stop-postgres, which also removes its directory), keeping its log (unless None)."""
        if keep_log is not None and os.path.exists(f"{self.dir}/postgres.log"):
            shutil.copy(f"{self.dir}/postgres.log", keep_log)
        subprocess.run([str(ROOT / "scripts" / "stop-postgres"), self.dir], capture_output=True, timeout=60)


Store = Redis | Postgres


# --------------------------------------------------------------------------------------------------------------------
# Replicas and nginx
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class Replica:
    id: str
    port: int
    log: Path
    proc: subprocess.Popen | None = None
    exits: list[dict[str, Any]] = field(default_factory=list)  # {"how": "sigterm"/"sigkill"/..., "code": rc, "s": seconds}

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    """Replicas r1..rN of one binary behind nginx, all on loopback, with their logs in `dir`."""

    def __init__(self, dir: Path, binary: str, backend: str, key: str, replicas: int, server_flags: list[str], log_level: str = "info") -> None:
        self.dir = dir
        self.binary = binary
        self.backend = backend
        self.key = key
        self.server_flags = server_flags
        self.log_level = log_level
        self.replicas = [Replica(f"r{k + 1}", p, dir / f"r{k + 1}.log") for k, p in enumerate(free_ports(replicas))]
        self.nginx_proc: subprocess.Popen | None = None
        self.nginx_port = 0
        self.http = httpx2.AsyncClient(timeout=httpx2.Timeout(2.0), limits=httpx2.Limits(max_keepalive_connections=0))

    def replica(self, rid: str) -> Replica:
        return next(r for r in self.replicas if r.id == rid)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}/mcp"

    def ports(self) -> dict[int, str]:
        return {r.port: r.id for r in self.replicas}

    def _save_pids(self) -> None:
        pids = {r.id: r.pid for r in self.replicas if r.running()}
        if self.nginx_proc is not None and self.nginx_proc.poll() is None:
            pids["nginx"] = self.nginx_proc.pid
        (self.dir / "pids.json").write_text(json.dumps(pids))

    # -- replicas -----------------------------------------------------------------------------------------------------

    def argv(self, r: Replica) -> list[str]:
        return [self.binary, "--host", "127.0.0.1", "--port", str(r.port), "--backend", self.backend, "--replica-id", r.id,
                "--key", self.key, "--log-level", self.log_level, *self.server_flags]

    def spawn(self, r: Replica) -> None:
        with r.log.open("ab") as log:
            log.write(f"\n=== chaos {time.strftime('%H:%M:%S')}: starting {' '.join(self.argv(r))}\n".encode())
            log.flush()
            r.proc = subprocess.Popen(self.argv(r), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self._save_pids()

    async def wait_ready(self, r: Replica, timeout: float = 60.0) -> float:
        """Waits until the replica answers /readyz with 200; returns the seconds it took."""
        t0 = time.monotonic()
        with anyio.fail_after(timeout):
            while True:
                if not r.running():
                    raise StartupError(f"replica {r.id} exited with {r.proc.returncode if r.proc else '?'} during startup:\n{tail(r.log)}")
                try:
                    if (await self.http.get(f"http://127.0.0.1:{r.port}/readyz")).status_code == 200:
                        return time.monotonic() - t0
                except httpx2.TransportError:
                    pass
                await anyio.sleep(0.05)

    async def start_replicas(self) -> None:
        for r in self.replicas:
            self.spawn(r)
        for r in self.replicas:
            await self.wait_ready(r)

    async def _wait_exit(self, r: Replica, timeout: float) -> int | None:
        with anyio.move_on_after(timeout):
            while r.proc.poll() is None:
                await anyio.sleep(0.02)
        return r.proc.poll()

    async def kill(self, r: Replica) -> None:
        """SIGKILL (the whole process group), and reap it."""
        t0 = time.monotonic()
        kill_group(r.proc.pid, signal.SIGKILL)
        code = await self._wait_exit(r, 10)
        r.exits.append({"how": "sigkill", "code": code, "s": round(time.monotonic() - t0, 3)})

    async def terminate(self, r: Replica, timeout: float) -> int | None:
        """SIGTERM and wait for the exit (SIGKILL after `timeout`); returns the exit code of the SIGTERM (None: it
        had to be killed). The port is free when this returns."""
        t0 = time.monotonic()
        kill_group(r.proc.pid, signal.SIGTERM)
        code = await self._wait_exit(r, timeout)
        if code is None:
            kill_group(r.proc.pid, signal.SIGKILL)
            await self._wait_exit(r, 10)
        r.exits.append({"how": "sigterm", "code": code, "s": round(time.monotonic() - t0, 3)})
        with anyio.move_on_after(10):
            while port_open(r.port):
                await anyio.sleep(0.02)
        return code

    async def stop_replicas(self, timeout: float) -> None:
        """SIGTERM to every running replica at once; each is killed if it has not exited after `timeout` s."""
        async with anyio.create_task_group() as tg:
            for r in self.replicas:
                if r.running():
                    tg.start_soon(self.terminate, r, timeout)

    # -- nginx --------------------------------------------------------------------------------------------------------

    def _nginx_conf(self) -> Path:
        return self.dir / "nginx.conf"

    async def start_nginx(self) -> None:
        (self.dir / "nginx-tmp").mkdir(exist_ok=True)
        servers = "\n".join(f"        server 127.0.0.1:{r.port} max_fails=0;" for r in self.replicas)
        for _ in range(3):  # a probed port can be taken before nginx binds it
            self.nginx_port = free_ports(1)[0]
            text = NGINX_TEMPLATE.read_text().replace("@DIR@", str(self.dir)).replace("@PORT@", str(self.nginx_port))
            self._nginx_conf().write_text("\n".join(servers if line == "@SERVERS@" else line for line in text.splitlines()) + "\n")
            err = open(self.dir / "nginx-error.log", "ab")
            self.nginx_proc = subprocess.Popen(
                [NGINX, "-e", str(self.dir / "nginx-error.log"), "-p", str(self.dir), "-c", str(self._nginx_conf()), "-g", "daemon off;"],
                stdout=err, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True,
            )
            err.close()
            self._save_pids()
            with anyio.move_on_after(5):
                while self.nginx_proc.poll() is None:
                    try:
                        if (await self.http.get(f"http://127.0.0.1:{self.nginx_port}/healthz")).status_code == 200:
                            return
                    except httpx2.TransportError:
                        pass
                    await anyio.sleep(0.05)
            kill_group(self.nginx_proc.pid, signal.SIGKILL)
            self.nginx_proc.wait()
        raise StartupError(f"nginx did not start:\n{tail(self.dir / 'nginx-error.log')}")

    def _nginx_workers(self) -> set[int]:
        workers = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.nginx_proc.pid and fields[0] != "Z":
                workers.add(int(stat.parent.name))
        return workers

    async def set_in_rotation(self, r: Replica, in_rotation: bool) -> float:
        """Marks the replica `down` in nginx's upstream (or back in) and runs `nginx -s reload`; returns once a
        worker with the new configuration runs (old workers finish the streams they carry). Returns the seconds."""
        t0 = time.monotonic()
        conf = self._nginx_conf()
        line = re.compile(rf"^(\s*server 127\.0\.0\.1:{r.port}\b[^;]*?)(?: down)?;$", re.M)
        text, n = line.subn(lambda m: m.group(1) + ("" if in_rotation else " down") + ";", conf.read_text())
        assert n == 1, f"no upstream line for {r.id} in {conf}"
        conf.write_text(text)
        old = self._nginx_workers()
        subprocess.run([NGINX, "-e", str(self.dir / "nginx-error.log"), "-p", str(self.dir), "-c", str(conf), "-s", "reload"],
                       capture_output=True, timeout=10, check=True)
        with anyio.fail_after(10):
            while not (self._nginx_workers() - old):
                await anyio.sleep(0.01)
        await anyio.sleep(0.05)  # the old worker closes its listening socket as it starts to shut down
        self._save_pids()
        return time.monotonic() - t0

    def stop_nginx(self) -> None:
        if self.nginx_proc is not None and self.nginx_proc.poll() is None:
            kill_group(self.nginx_proc.pid, signal.SIGTERM)  # fast shutdown: the clients are gone by now
            try:
                self.nginx_proc.wait(10)
            except subprocess.TimeoutExpired:
                kill_group(self.nginx_proc.pid, signal.SIGKILL)
                self.nginx_proc.wait()
        if self.nginx_proc is not None:  # workers of older configurations that still carried streams, if any
            kill_group(self.nginx_proc.pid, signal.SIGKILL)

    def trim_logs(self, limit: int = 16 << 20, keep: int = 4 << 20) -> list[str]:
        """Cuts each replica log over `limit` bytes down to its first and last `keep` bytes (a replica that logs in a
        loop must not fill the disk); returns what it trimmed."""
        trimmed = []
        for r in self.replicas:
            size = r.log.stat().st_size if r.log.exists() else 0
            if size > limit:
                with r.log.open("rb") as f:
                    head = f.read(keep)
                    f.seek(size - keep)
                    tail_bytes = f.read()
                r.log.write_bytes(head + f"\n=== chaos: {size - 2 * keep} bytes cut ===\n".encode() + tail_bytes)
                trimmed.append(f"{r.log.name} ({size >> 20} MiB)")
        return trimmed

    async def aclose(self) -> None:
        await self.http.aclose()


# --------------------------------------------------------------------------------------------------------------------
# Emergency cleanup (scripts/chaos's trap)
# --------------------------------------------------------------------------------------------------------------------


def cleanup(run_dir: Path) -> None:
    """Stops every process a run recorded in its pids.json files that is still alive and still what it was."""
    for pids_file in run_dir.glob("*/pids.json"):
        for name, pid in json.loads(pids_file.read_text()).items():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
            except OSError:
                continue
            if alive(pid) and ("mcp-demo-server" in cmdline or "nginx" in cmdline):
                print(f"chaos: cleanup: stopping {name} (pid {pid})", file=sys.stderr)
                kill_group(pid, signal.SIGKILL)
    for pidfile in run_dir.glob("*/redis.pidfile"):
        subprocess.run([str(ROOT / "scripts" / "stop-redis"), pidfile.read_text().strip()], capture_output=True, timeout=30)
    for dir_file in run_dir.glob("*/postgres.dir"):  # stop-postgres does nothing to a directory that is gone
        subprocess.run([str(ROOT / "scripts" / "stop-postgres"), dir_file.read_text().strip()], capture_output=True, timeout=60)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "cleanup":
        cleanup(Path(sys.argv[2]))
    else:
        sys.exit("usage: python cluster.py cleanup RUN_DIR")
