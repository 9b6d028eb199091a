"""Fixtures for the multi-replica suite: several `mcp-demo-server` replicas sharing one backend (Redis or PostgreSQL)
and one key, behind a round-robin nginx with no affinity (all started by run.sh; see README.md).

* `cluster` (session): the running cluster, read from `$MCP_CLUSTER_STATE/replicas.json` and
  `$MCP_CLUSTER_NGINX_URL`: `.nginx` (the balanced endpoint), `.replicas` (r1 .. rN, each pinned by its own
  port), `.a` / `.b` / `.c` (three distinct replicas when there are three), and `.restart(replica, keys)`.
* `wire` (session): the interop suite's `WireRecorder`, which validates every server message against the
  schema of the negotiated protocol version (Tests/fixtures/schema/<version>/schema.json).
* `connect` (per test): the interop suite's `Connector` aimed at nginx; `connect.to(cluster.b)` aims it at
  one replica. `connect(mode=...)` is an `mcp.Client` (mcp 2.x), `connect.http()` a raw httpx2 client,
  `connect.httpx()` an httpx one (mcp 1.x), all on the validating tee. At teardown the test fails on any schema
  or protocol violation in what the servers sent during it.
* `sse_wire` (module): the module's HTTP+SSE recorder (the interop suite's `HttpSseWire`, what it validated
  reported at the end of the module); `sse` (per test): the same recorder, `.http()` a raw httpx2 client on its
  tee; at teardown the test fails on any violation in what the servers sent on HTTP+SSE during it.
* `auth` (module): more replicas (as many as the cluster's) with authorization on and their own nginx (`cluster_helpers.AuthCluster`).

The wire validator, the raw legacy helpers and the connector are imported from Tests/interop, not copied.
A failing test gets every replica's log (and nginx's logs) written during it attached to its report.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
INTEROP = REPO_ROOT / "Tests" / "interop"
SCHEMA_ROOT = REPO_ROOT / "Tests" / "fixtures" / "schema"
if str(INTEROP) not in sys.path:
    sys.path.append(str(INTEROP))

import cluster_ctl  # noqa: E402
from cluster_helpers import AuthCluster, Endpoint  # noqa: E402
from interop_wire import MODERN, SchemaValidator, WireRecorder  # noqa: E402
from test_http_sse_raw import HttpSseWire, report_validated, tee_http, wire_problems  # noqa: E402  (Tests/interop)


def _load_interop_conftest():
    """Tests/interop/conftest.py as the module `interop_conftest` (this directory's own conftest owns the name
    `conftest`); only its `Connector` is used, none of its fixtures or hooks."""
    spec = importlib.util.spec_from_file_location("interop_conftest", INTEROP / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["interop_conftest"] = module
    spec.loader.exec_module(module)
    return module


Connector = _load_interop_conftest().Connector

# Which files this venv runs: mcp 1.x only test_mcp1_*.py, mcp 2.x all the others.
MCP_VERSION = importlib.metadata.version("mcp")
MCP_MAJOR = int(MCP_VERSION.split(".")[0])
if MCP_MAJOR < 2:
    collect_ignore_glob = [p.name for p in HERE.glob("test_*.py") if not p.name.startswith("test_mcp1_")]
else:
    collect_ignore_glob = ["test_mcp1_*.py"]

_state: dict[str, Any] = {"cluster": None, "wire": None, "log_offsets": {}}


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


# --------------------------------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------------------------------


class Cluster:
    def __init__(self, state_dir: Path, nginx_url: str) -> None:
        self.state_dir = state_dir
        state = cluster_ctl.load(state_dir)
        self.backend = state["backend"]
        self.replicas = [Endpoint(r["id"], r["port"], Path(r["log"])) for r in state["replicas"]]
        port = int(nginx_url.rsplit(":", 1)[1].split("/")[0])
        self.nginx = Endpoint("nginx", port, state_dir / "nginx-error.log")
        self.nginx_access_log = state_dir / "nginx-access.log"
        self.nginx_pid = int(os.environ.get("MCP_CLUSTER_NGINX_PID") or 0)
        self.restarts: list[dict[str, Any]] = []

    def replica(self, k: int) -> Endpoint:
        return self.replicas[k % len(self.replicas)]

    @property
    def a(self) -> Endpoint:
        return self.replica(0)

    @property
    def b(self) -> Endpoint:
        return self.replica(1)

    @property
    def c(self) -> Endpoint:
        return self.replica(2)

    def by_port(self, port: int) -> Endpoint | None:
        return next((r for r in self.replicas if r.port == port), None)

    def keys(self, replica: Endpoint) -> list[str]:
        state = cluster_ctl.load(self.state_dir)
        return next(r["keys"] for r in state["replicas"] if r["id"] == replica.name)

    def restart(self, replica: Endpoint, keys: list[str] | None = None, extra_args: list[str] | None = None) -> dict[str, Any]:
        """Stops the replica (SIGTERM: it drains) and starts it again on its port, with `keys` when given, and with
        `extra_args` when given as flags of its own (kept for its later restarts; `[]` removes them); blocks until
        it is healthy again (call it through anyio.to_thread)."""
        info = cluster_ctl.restart(self.state_dir, replica.name, keys, extra_args=extra_args)
        info["replica"] = replica.name
        self.restarts.append(info)
        return info

    # -- nginx: taking a replica out of rotation -----------------------------------------------------------------

    def _nginx_workers(self) -> set[int]:
        workers = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.nginx_pid and fields[0] != "Z":
                workers.add(int(stat.parent.name))
        return workers

    def set_in_rotation(self, replica: Endpoint, in_rotation: bool, timeout: float = 10.0) -> float:
        """Marks the replica `down` in nginx's upstream (or back in), reloads nginx (SIGHUP) and waits until the
        old worker, with its in-flight requests, has exited, so that nginx sends the replica nothing more.
        Returns the seconds it took."""
        assert self.nginx_pid, "MCP_CLUSTER_NGINX_PID is not set (run through run.sh)"
        t0 = time.monotonic()
        conf = self.state_dir / "nginx.conf"
        line = re.compile(rf"^(\s*server 127\.0\.0\.1:{replica.port}\b[^;]*?)(?: down)?;$", re.M)
        text, n = line.subn(lambda m: m.group(1) + ("" if in_rotation else " down") + ";", conf.read_text())
        assert n == 1, f"no upstream line for {replica} in {conf}"
        conf.write_text(text)
        old = self._nginx_workers()
        os.kill(self.nginx_pid, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self._nginx_workers()
            if current and not (current & old):
                break
            time.sleep(0.01)
        else:
            raise AssertionError(f"nginx did not finish reloading within {timeout} s (workers {sorted(old)} -> {sorted(self._nginx_workers())})")
        return time.monotonic() - t0

    def rolling_restart(self, replica: Endpoint, keys: list[str] | None = None) -> dict[str, Any]:
        """What a rolling deploy does: take the replica out of rotation, stop it (SIGTERM: it drains), put it back
        in rotation while it is still down (nginx meets `connection refused` and passes requests on to the next
        replica), start it, and wait until it is healthy. Blocking: call it through anyio.to_thread."""
        info: dict[str, Any] = {"replica": replica.name, "out_of_rotation_s": self.set_in_rotation(replica, False)}
        info.update(cluster_ctl.stop(self.state_dir, replica.name))
        self.set_in_rotation(replica, True)
        info.update(cluster_ctl.start(self.state_dir, replica.name, keys))
        self.restarts.append(info)
        return info

    def logs(self) -> list[Path]:
        return [r.log_path for r in self.replicas if r.log_path] + [
            self.state_dir / "nginx-error.log",
            self.nginx_access_log,
        ]


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    state_dir = os.environ.get("MCP_CLUSTER_STATE")
    nginx_url = os.environ.get("MCP_CLUSTER_NGINX_URL")
    if not state_dir or not nginx_url:
        pytest.fail("no cluster: run this suite through Tests/cluster/run.sh (it starts redis, the replicas and nginx)")
    c = Cluster(Path(state_dir), nginx_url)
    _state["cluster"] = c
    for r in c.replicas + [c.nginx]:
        assert cluster_ctl.healthy(r.port), f"{r} is not healthy"
    return c


# --------------------------------------------------------------------------------------------------
# Schema validation of everything the servers send
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wire() -> WireRecorder:
    recorder = WireRecorder(SchemaValidator(SCHEMA_ROOT / MODERN / "schema.json"), SCHEMA_ROOT)
    _state["wire"] = recorder
    return recorder


@pytest.fixture
def connect(cluster: Cluster, wire: WireRecorder):
    mark = wire.mark()
    yield Connector(cluster.nginx, wire)
    exchanges, _recorded, violations, validated = wire.since(mark)
    if violations:
        pytest.fail(
            f"{len(violations)} schema/protocol violation(s) in what the servers sent during this test:\n"
            + "\n".join(f"  - {v}" for v in violations),
            pytrace=False,
        )
    if exchanges:
        assert validated > 0, "the test talked to the servers but no server message was schema-validated"


class SseWire(HttpSseWire):
    """A module's HTTP+SSE recorder (`HttpSseWire`, Tests/interop/test_http_sse_raw.py); `.http()` is a raw httpx2
    client whose traffic goes through the validating tee into it."""

    def http(self, **kw: Any):
        return tee_http(self, **kw)


@pytest.fixture(scope="module")
def sse_wire(request: pytest.FixtureRequest, wire: WireRecorder):
    recorder = SseWire(wire.validator, wire.schema_root)
    yield recorder
    report_validated(request, recorder, f"HTTP+SSE ({Path(request.module.__file__).name})")


@pytest.fixture
def sse(cluster: Cluster, sse_wire: SseWire):
    mark = sse_wire.mark()
    yield sse_wire
    problems = wire_problems(sse_wire, mark)
    if problems:
        pytest.fail(problems, pytrace=False)


# --------------------------------------------------------------------------------------------------
# Replicas with authorization on (test_auth_replicas.py, test_mcp1_auth.py)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth(cluster: Cluster):
    """The replicas with authorization on and their nginx (`cluster_helpers.AuthCluster`), stopped at the end of
    the module. Their logs are attached to the report of a failing test, like the cluster's."""
    ac = AuthCluster(cluster, cluster.state_dir / f"auth-v{MCP_MAJOR}", id_prefix=f"auth{MCP_MAJOR}r")
    original = cluster.logs
    cluster.logs = lambda: original() + ac.logs()
    try:
        yield ac
    finally:
        del cluster.logs
        ac.stop()


# --------------------------------------------------------------------------------------------------
# Order, reporting
# --------------------------------------------------------------------------------------------------


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that restart replicas run last (a stable sort keeps the rest in file order)."""
    items.sort(key=lambda item: item.get_closest_marker("restarts_replicas") is not None)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _read(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"


def pytest_runtest_setup(item: pytest.Item) -> None:
    c: Cluster | None = _state["cluster"]
    if c is not None:
        _state["log_offsets"][item.nodeid] = {str(p): _size(p) for p in c.logs()}
    _state["t0"] = time.monotonic()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    c: Cluster | None = _state["cluster"]
    if report.failed and c is not None:
        offsets = _state["log_offsets"].get(item.nodeid, {})
        for path in c.logs():
            text = _read(path, offsets.get(str(path), 0))
            if not text:
                continue
            if len(text) > 15000:
                text = "...\n" + text[-15000:]
            report.sections.append((f"{path.name} ({report.when})", text))
    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    recorder: WireRecorder | None = _state["wire"]
    tr = terminalreporter
    c: Cluster | None = _state["cluster"]
    if c is not None:
        tr.write_sep("-", "cluster")
        tr.write_line(f"nginx {c.nginx.base_url} -> " + ", ".join(f"{r.name} :{r.port}" for r in c.replicas) + f"; backend {c.backend}")
        for info in c.restarts:
            tr.write_line(
                f"  restarted {info['replica']}: stopped in {info['stopped_s']:.2f} s"
                f"{'' if info['graceful'] else ' (SIGKILL)'}, healthy after {info['started_s']:.2f} s"
                + (f" (out of nginx's rotation while stopping: {info['out_of_rotation_s']:.2f} s to reload)" if "out_of_rotation_s" in info else "")
            )
    if recorder is not None:
        tr.write_sep("-", "server messages schema-validated")
        tr.write_line(
            f"{recorder.validated} server messages schema-validated ({sum(recorder.by_definition.values())} "
            f"definition checks) in {len(recorder.exchanges)} HTTP exchanges; {len(recorder.violations)} violation(s)"
        )
        tr.write_line("  " + ", ".join(f"{name} {n}" for name, n in sorted(recorder.by_definition.items())))
        upstreams: dict[str, int] = {}
        for ex in recorder.exchanges:
            up = ex.response_headers.get("x-upstream")
            if up and c is not None:
                for addr in up.split(","):
                    r = c.by_port(int(addr.strip().rsplit(":", 1)[1])) if ":" in addr else None
                    name = r.name if r else addr.strip()
                    upstreams[name] = upstreams.get(name, 0) + 1
        if upstreams:
            tr.write_line("  requests through nginx by replica: " + ", ".join(f"{k} {v}" for k, v in sorted(upstreams.items())))
        dump = os.environ.get("MCP_INTEROP_WIRE_DUMP")
        if dump:
            with open(dump, "w", encoding="utf-8") as f:
                for ex in recorder.exchanges:
                    f.write(json.dumps({
                        "seq": ex.seq, "http": ex.http_method, "url": ex.url, "request": ex.request_body,
                        "requestHeaders": ex.request_headers, "status": ex.status,
                        "responseHeaders": ex.response_headers, "complete": ex.complete, "messages": ex.messages,
                    }) + "\n")
            tr.write_line(f"wire dump written to {dump}")
