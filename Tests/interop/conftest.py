"""Fixtures for the external interop suite: the official MCP Python SDK client (mcp==2.3.0) against
the Swift `mcp-demo-server` binary.

* `demo_server` (session): starts the binary (env `MCP_DEMO_SERVER_BIN`, default
  `<repo>/.build/debug/mcp-demo-server`) on a free loopback port, waits for `GET /healthz`, yields a
  handle with `.url` (the `/mcp` endpoint), and stops it at the end. A failing test gets the server
  log written during it attached to its report; the whole log is printed at the end of a failed run.
* `schema_validator` (session): validates instances against definitions of
  `Tests/fixtures/schema/2026-07-28/schema.json`.
* `wire` (session): the recorder that validates every message the server sends (see interop_wire.py).
* `connect` (per test): `connect(**client_kwargs)` builds an `mcp.Client` (mode 2026-07-28, cache off;
  `mode="legacy"` for the session-based handshake) whose HTTP traffic goes through the validating
  tee; `connect.http()` is a raw httpx2 client with the same tee, `connect.httpx()` an `httpx` one
  (what mcp 1.x uses). At teardown the test fails on any schema or protocol violation in what the
  server sent during it, and if it talked to the server but nothing was validated.
* `poll_server` / `timeout_server` (session, started on first use): the binary with
  `--sse-poll-after-ms 300` (SSE connections closed after 300 ms, SEP-1699 polling) and with
  `--client-request-timeout-ms 800` (an unanswered server-to-client request times out quickly).

Two venvs run this directory (see run.sh): mcp 2.x runs everything except `test_legacy_mcp1_*.py`;
mcp 1.x (requirements-v1.txt) runs only `test_legacy_mcp1_*.py`.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from interop_wire import MODERN, SchemaValidator, TeeTransport, WireRecorder
from loopback import LoopbackServer

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
SCHEMA_ROOT = REPO_ROOT / "Tests" / "fixtures" / "schema"
SCHEMA_PATH = SCHEMA_ROOT / "2026-07-28" / "schema.json"
DEFAULT_BIN = REPO_ROOT / ".build" / "debug" / "mcp-demo-server"
REPLICA_ID = "interop-replica"

_state: dict[str, Any] = {"server": None, "wire": None, "servers": [], "log_offsets": {}}

# Which files this venv runs: mcp 1.x only the mcp1 legacy tests, mcp 2.x all the others.
MCP_VERSION = importlib.metadata.version("mcp")
MCP_MAJOR = int(MCP_VERSION.split(".")[0])
if MCP_MAJOR < 2:
    collect_ignore_glob = [
        p.name for p in HERE.glob("test_*.py") if not p.name.startswith("test_legacy_mcp1_")
    ]
else:
    collect_ignore_glob = ["test_legacy_mcp1_*.py"]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


# --------------------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------------------


@dataclass
class DemoServer(LoopbackServer):
    proc: subprocess.Popen
    port: int
    log_path: Path
    binary: Path

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def read_log(self, offset: int = 0) -> str:
        try:
            with self.log_path.open("rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"<cannot read {self.log_path}: {exc}>"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        r = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
        return r.status_code == 200
    except httpx2.HTTPError:
        return False


def _binary(env: str = "MCP_DEMO_SERVER_BIN", default: Path = DEFAULT_BIN) -> Path:
    binary = Path(os.environ.get(env, str(default)))
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(f"server binary {binary} not found or not executable (build it, or set {env})")
    return binary


def launch_server(
    log_dir: Path,
    name: str = "server",
    replica_id: str = REPLICA_ID,
    extra_args: tuple[str, ...] = (),
    binary: Path | None = None,
) -> DemoServer:
    """Starts the binary (default: the demo server) on a free loopback port and waits until GET /healthz answers 200."""
    binary = binary or _binary()
    last_error = ""
    for attempt in range(3):  # a free port can be taken between probing and binding
        port = _free_port()
        log_path = log_dir / f"{name}-{attempt}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    str(binary),
                    "--host", "127.0.0.1",
                    "--port", str(port),
                    "--backend", "memory",
                    "--replica-id", replica_id,
                    "--log-level", os.environ.get("MCP_DEMO_SERVER_LOG_LEVEL", "debug"),
                    *os.environ.get("MCP_DEMO_SERVER_ARGS", "").split(),
                    *extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        server = DemoServer(proc, port, log_path, binary)
        _state["servers"].append(server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None and not _healthy(port):
            time.sleep(0.05)
        if proc.poll() is None and _healthy(port):
            return server
        stop_server(server)
        last_error = f"attempt {attempt + 1}: exit code {proc.returncode}, log:\n{server.read_log()}"
    pytest.fail(f"the demo server did not become healthy:\n{last_error}")


def stop_server(server: DemoServer) -> int | None:
    """SIGTERM (graceful: the server drains listen streams), then SIGKILL after 5 s."""
    proc = server.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory):
    server = launch_server(tmp_path_factory.mktemp("demo-server"))
    _state["server"] = server
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def poll_server(tmp_path_factory: pytest.TempPathFactory):
    """SSE connections are closed 300 ms after they open (SEP-1699 polling); clients must resume."""
    server = launch_server(tmp_path_factory.mktemp("poll-server"), "poll-server", "interop-poll", ("--sse-poll-after-ms", "300"))
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def timeout_server(tmp_path_factory: pytest.TempPathFactory):
    """Server-to-client requests time out after 800 ms."""
    server = launch_server(
        tmp_path_factory.mktemp("timeout-server"), "timeout-server", "interop-timeout", ("--client-request-timeout-ms", "800")
    )
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def private_server(tmp_path: Path):
    """A server of the test's own, for tests that stop it. Stopped (if still running) at teardown."""
    server = launch_server(tmp_path, "private-server", replica_id="interop-private")
    try:
        yield server
    finally:
        stop_server(server)


# --------------------------------------------------------------------------------------------------
# Schema validation of everything the server sends
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def schema_validator() -> SchemaValidator:
    assert SCHEMA_PATH.is_file(), f"schema fixture missing: {SCHEMA_PATH}"
    return SchemaValidator(SCHEMA_PATH)


@pytest.fixture(scope="session")
def wire(schema_validator: SchemaValidator) -> WireRecorder:
    recorder = WireRecorder(schema_validator, SCHEMA_ROOT)
    _state["wire"] = recorder
    return recorder


def _http_client(recorder: WireRecorder, **kw: Any) -> httpx2.AsyncClient:
    kw.setdefault("timeout", httpx2.Timeout(30.0, read=300.0))
    return httpx2.AsyncClient(transport=TeeTransport(recorder), **kw)


@contextlib.asynccontextmanager
async def _tee_transport(url: str, recorder: WireRecorder):
    from mcp.client.streamable_http import streamable_http_client

    async with _http_client(recorder) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            yield streams


class Connector:
    def __init__(self, server: DemoServer, recorder: WireRecorder) -> None:
        self.server = server
        self.wire = recorder
        self.url = server.url

    def to(self, server: DemoServer) -> "Connector":
        """The same validating connector, aimed at another server (e.g. `private_server`)."""
        return Connector(server, self.wire)

    def __call__(self, mode: str = MODERN, **kw: Any):
        """An `mcp.Client` on the validating tee; mode 2026-07-28, response cache off, 15 s read timeout."""
        import mcp_types as types
        from mcp import Client

        kw.setdefault("cache", None)
        kw.setdefault("read_timeout_seconds", 15)
        kw.setdefault("client_info", types.Implementation(name="swift-mcp-interop", version="1.0"))
        return Client(_tee_transport(self.url, self.wire), mode=mode, **kw)

    def http(self, **kw: Any) -> httpx2.AsyncClient:
        """A raw HTTP client whose responses are validated like the MCP client's."""
        return _http_client(self.wire, **kw)

    def httpx(self, **kw: Any):
        """An `httpx` (not httpx2) client on the validating tee: the HTTP library of mcp 1.x."""
        import httpx

        from interop_wire import make_tee_transport

        kw.setdefault("timeout", httpx.Timeout(30.0, read=300.0))
        return httpx.AsyncClient(transport=make_tee_transport(httpx)(self.wire), **kw)


@pytest.fixture
def connect(demo_server: DemoServer, wire: WireRecorder):
    mark = wire.mark()
    yield Connector(demo_server, wire)
    _fail_on_violations(wire, mark)


def _fail_on_violations(wire: WireRecorder, mark: tuple[int, int, int, int]) -> None:
    exchanges, _recorded, violations, validated = wire.since(mark)
    if violations:
        pytest.fail(
            f"{len(violations)} schema/protocol violation(s) in what the server sent during this test:\n"
            + "\n".join(f"  - {v}" for v in violations),
            pytrace=False,
        )
    if exchanges:
        assert validated > 0, "the test talked to the server but no server message was schema-validated"


# --------------------------------------------------------------------------------------------------
# The conformance server (Tests/interop/test_conformance_*.py)
# --------------------------------------------------------------------------------------------------


@dataclass
class RemoteTarget(LoopbackServer):
    """A server this suite did not start: `MCP_CONFORMANCE_URL` (for example nginx in front of three replicas)."""

    port: int
    endpoint: str

    @property
    def url(self) -> str:
        return self.endpoint

    @property
    def base_url(self) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(self.endpoint)
        return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture(scope="session")
def conformance_server(tmp_path_factory: pytest.TempPathFactory):
    """The `mcp-conformance-server` under test: `MCP_CONFORMANCE_URL` (its `/mcp` endpoint) when set, else the binary
    `MCP_CONFORMANCE_SERVER_BIN` (default `.build/debug/mcp-conformance-server`) started here on one replica."""
    url = os.environ.get("MCP_CONFORMANCE_URL")
    if url:
        from urllib.parse import urlsplit

        yield RemoteTarget(port=urlsplit(url).port or 80, endpoint=url)
        return
    binary = _binary("MCP_CONFORMANCE_SERVER_BIN", REPO_ROOT / ".build" / "debug" / "mcp-conformance-server")
    server = launch_server(
        tmp_path_factory.mktemp("conformance-server"), "conformance-server", "conformance", binary=binary
    )
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def conformance(conformance_server, wire: WireRecorder):
    """Like `connect`, aimed at the conformance server: `conformance.url`, `conformance.http()` (a raw client whose
    every received message is schema-validated), `conformance()` (an mcp.Client). Fails the test at teardown on any
    schema or protocol violation in what the server sent."""
    mark = wire.mark()
    yield Connector(conformance_server, wire)
    _fail_on_violations(wire, mark)


# --------------------------------------------------------------------------------------------------
# Conformance scenarios (@pytest.mark.scenario(id, version=..., scored=...)): conformance_plugin.py makes the
# scored=False ones xfail(strict=False) and, with MCP_CONFORMANCE_REPORT=<path>, writes a JSON report of every
# scenario's outcome (read by conformance_report.py; see conformance.sh)
# --------------------------------------------------------------------------------------------------

pytest_plugins = ["conformance_plugin"]


# --------------------------------------------------------------------------------------------------
# Reporting: server log on failure, validation counts at the end
# --------------------------------------------------------------------------------------------------


def pytest_runtest_setup(item: pytest.Item) -> None:
    _state["log_offsets"][item.nodeid] = {str(srv.log_path): srv.log_size() for srv in _state["servers"]}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed:
        offsets = _state["log_offsets"].get(item.nodeid, {})
        for srv in _state["servers"]:
            offset = offsets.get(str(srv.log_path), 0)  # a server started during the test: all of it
            text = srv.read_log(offset)
            if not text and srv is not _state["server"]:
                continue
            if len(text) > 20000:
                text = "...\n" + text[-20000:]
            report.sections.append((f"server log {srv.log_path.name} ({report.when})", text or "<nothing logged>"))
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    recorder: WireRecorder | None = _state["wire"]
    server: DemoServer | None = _state["server"]
    # The server was used, so something must have been validated: otherwise the tee is broken.
    if server is not None and recorder is not None and recorder.validated == 0 and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        _state["no_validation"] = True


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    recorder: WireRecorder | None = _state["wire"]
    tr = terminalreporter
    if recorder is not None:
        tr.write_sep("-", "server messages schema-validated")
        tr.write_line(
            f"{recorder.validated} server messages schema-validated ({sum(recorder.by_definition.values())} "
            f"definition checks) in {len(recorder.exchanges)} HTTP exchanges; "
            f"{len(recorder.violations)} violation(s)"
        )
        tr.write_line("  " + ", ".join(f"{name} {n}" for name, n in sorted(recorder.by_definition.items())))
        if _state.get("no_validation"):
            tr.write_line("FAILED: the demo server was used but no server message was schema-validated", red=True)
        dump = os.environ.get("MCP_INTEROP_WIRE_DUMP")
        if dump:  # every exchange as one JSON line, for debugging
            with open(dump, "w", encoding="utf-8") as f:
                for ex in recorder.exchanges:
                    f.write(json.dumps({
                        "seq": ex.seq, "http": ex.http_method, "url": ex.url, "request": ex.request_body,
                        "requestHeaders": ex.request_headers, "status": ex.status,
                        "contentType": ex.content_type, "complete": ex.complete, "messages": ex.messages,
                    }) + "\n")
            tr.write_line(f"wire dump written to {dump}")
    server: DemoServer | None = _state["server"]
    if server is not None and exitstatus != 0:
        tr.write_sep("-", f"demo server log ({server.log_path})")
        text = server.read_log()
        tr.write_line(text if len(text) < 60000 else "...\n" + text[-60000:])
