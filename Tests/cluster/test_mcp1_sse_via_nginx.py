"""The official mcp 1.30.0 HTTP+SSE client (`mcp.client.sse.sse_client` + `ClientSession`, the deprecated 2024-11-05
transport) through the round-robin nginx: the stream is held by the replica the GET reached, and every POST lands
wherever nginx sends it. Runs in the mcp 1.x venv.

The client's httpx client comes from `httpx_client_factory`, built on the interop suite's tee for `httpx`, whose
recorder is `HttpSseWire` (Tests/interop/test_http_sse_raw.py): it sees every byte of the stream and of each POST's
answer, and validates every message against the schema of the negotiated version (2025-11-25, what mcp 1.x asks).
Which replica served what is read from nginx's `X-Upstream` response header and cross-checked in nginx's access log.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
from datetime import timedelta
from typing import Any

import anyio
import httpx
import mcp.types as types
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.shared.exceptions import McpError

import cluster_ctl
from mcp1_callbacks import RecordingCallbacks
from cluster_helpers import upstream_names
from demo_contract import STATIC_RESOURCES, TOOLS, check_counter_subscription, text_of  # Tests/interop
from test_http_sse_raw import (
    GONE_WORDS,
    SSE_PATH,
    HttpSseWire,
    make_tee_transport,
    refusal_problems,
)

pytestmark = pytest.mark.anyio

KILL_WAIT = 10.0  # seconds a request of a killed replica may take to end with -32010 (lease 5 s)


def tee_client_factory(wire: HttpSseWire):
    """An `McpHttpClientFactory` whose clients send everything through the validating tee."""

    def factory(headers: dict[str, str] | None = None, timeout: httpx.Timeout | None = None, auth: httpx.Auth | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=make_tee_transport(httpx)(wire),
            headers=headers,
            timeout=timeout if timeout is not None else httpx.Timeout(30.0, read=300.0),
            auth=auth,
        )

    return factory


@contextlib.asynccontextmanager
async def sse_v1_session(wire: HttpSseWire, target: Any, **kw: Any):
    """An initialized mcp 1.x ClientSession over `sse_client` at `target` (nginx or a replica); `.init` is the
    InitializeResult, `.sid` the session id of the endpoint event."""
    sids: list[str] = []
    kw.setdefault("read_timeout_seconds", timedelta(seconds=15))
    kw.setdefault("client_info", types.Implementation(name="swift-mcp-cluster-sse-v1", version="1.0"))
    async with sse_client(
        target.base_url + SSE_PATH, timeout=10, httpx_client_factory=tee_client_factory(wire), on_session_created=sids.append
    ) as (read, write):
        async with ClientSession(read, write, **kw) as s:
            s.init = await s.initialize()
            s.sid = sids[0]
            yield s


def holder_of(cluster: Any, wire: HttpSseWire, sid: str) -> str:
    """The replica nginx sent the session's GET to: the one holding its stream."""
    (name,) = upstream_names(cluster, [wire.stream_of(sid)])
    return name


def post_upstreams(cluster: Any, wire: HttpSseWire, sid: str) -> list[tuple[Any, str]]:
    """(exchange, replica) for each POST of the session that went through nginx."""
    return [(e, upstream_names(cluster, [e])[0]) for e in wire.posts_of(sid) if e.response_headers.get("x-upstream")]


def access_log_upstreams(cluster: Any, sid: str) -> list[tuple[str, str, str]]:
    """(method, status, replica) of each request of the session in nginx's access log."""
    out = []
    pattern = re.compile(r'"(\w+) [^"]*sessionId=' + re.escape(sid) + r'[ &"][^"]*" (\d+) upstream=(\S+)')
    for line in cluster.nginx_access_log.read_text(errors="replace").splitlines():
        m = pattern.search(line)
        if m:
            last = m.group(3).split(",")[-1].strip()
            r = cluster.by_port(int(last.rsplit(":", 1)[1])) if ":" in last else None
            out.append((m.group(1), m.group(2), r.name if r else last))
    return out


def predicted_next(cluster: Any, wire: HttpSseWire, mark: Any) -> str | None:
    """The replica nginx will send the next request to. nginx's round robin (equal weights) is periodic: each
    replica once per len(replicas) requests, in an order that depends on its state (not always the upstream's
    order), so the next pick is the replica that served the request len(replicas) positions back. Counts only this
    test's requests (since `mark`), all of them sent one at a time and settled, and no other traffic through nginx."""
    served = upstream_names(cluster, wire.since(mark)[0])
    n = len(cluster.replicas)
    return served[-n] if len(served) >= n else None


async def settled(wire: HttpSseWire, sid: str, timeout: float = 5.0) -> None:
    """Waits until every POST of the session has its HTTP answer (a response can come on the stream before the
    202 of its POST)."""
    with anyio.fail_after(timeout):
        while any(e.status is None for e in wire.posts_of(sid)):
            await anyio.sleep(0.01)


async def steer_away(s: ClientSession, cluster: Any, wire: HttpSseWire, avoid: str, mark: Any) -> str:
    """Sends pings until nginx's next pick is not `avoid`; returns that pick. (The client POSTs one message at a
    time, so once a ping is answered every earlier POST has been sent.)"""
    for _ in range(2 * len(cluster.replicas) + 1):
        await s.send_ping()
        await settled(wire, s.sid)
        nxt = predicted_next(cluster, wire, mark)
        if nxt is not None and nxt != avoid:
            return nxt
    raise AssertionError(f"could not steer nginx's round robin away from {avoid}")


async def posted_to(cluster: Any, wire: HttpSseWire, sid: str, tool: str, timeout: float = 5.0) -> str:
    """The replica the session's (latest) tools/call of `tool` was POSTed to, once its 202 has come back."""
    with anyio.fail_after(timeout):
        while True:
            for e in reversed(wire.posts_of(sid)):
                body = e.request_body
                if isinstance(body, dict) and body.get("method") == "tools/call" and body["params"]["name"] == tool and e.status is not None:
                    assert e.status == 202, e.describe()
                    return upstream_names(cluster, [e])[0]
            await anyio.sleep(0.01)


async def test_mcp1_sse_client_through_nginx(cluster, sse):
    cb = RecordingCallbacks()
    questions, logs, updates, progress, got, on_progress = cb.questions, cb.logs, cb.updates, cb.progress, cb.got, cb.on_progress

    async with sse_v1_session(
        sse, cluster.nginx, **cb.session_kwargs()
    ) as s, sse_v1_session(sse, cluster.nginx) as toucher:
        assert s.init.protocolVersion == "2025-11-25"
        assert s.init.capabilities.resources is not None and s.init.capabilities.resources.subscribe is True
        assert {t.name for t in (await s.list_tools()).tools} == TOOLS
        assert text_of(await s.call_tool("echo", {"text": "héllo ✓"})) == "héllo ✓"
        r = await s.call_tool("add", {"a": 2, "b": 3})
        assert r.structuredContent == {"sum": 5} and text_of(r) == "5"
        r = await s.call_tool("fail", {})
        assert r.isError is True
        assert text_of(await s.call_tool("ask", {"question": "Through nginx?"})) == "answer: a1"
        assert text_of(await s.call_tool("ask-twice", {})) == "first: a2, second: a3"
        assert text_of(await s.call_tool("summarize", {"text": "The quick brown fox."})) == "Short."
        assert text_of(await s.call_tool("list-roots", {})).split("\n") == ["file:///tmp/project-a", "file:///srv/b"]
        r = await s.call_tool("countdown", {"steps": 3, "intervalMs": 30}, progress_callback=on_progress)
        assert text_of(r) == "done" and progress == [1.0, 2.0, 3.0], progress
        assert logs == [], "log messages before logging/setLevel"
        await s.set_logging_level("info")
        progress.clear()
        r = await s.call_tool("countdown", {"steps": 3, "intervalMs": 30}, progress_callback=on_progress)
        assert text_of(r) == "done" and progress == [1.0, 2.0, 3.0] and logs == ["info"] * 3, (progress, logs)
        # resources, templates, prompt, completion
        assert {str(x.uri) for x in (await s.list_resources()).resources} == STATIC_RESOURCES
        assert [t.uriTemplate for t in (await s.list_resource_templates()).resourceTemplates] == ["demo://items/{id}"]
        assert (await s.read_resource("demo://greeting")).contents[0].text == "Hello from the MCP demo server!"
        assert [(str(x.uri), x.text) for x in (await s.read_resource("demo://items/7")).contents] == [("demo://items/7", "item 7")]
        assert json.loads((await s.read_resource("demo://stats")).contents[0].text)["replicaId"] in {x.name for x in cluster.replicas}
        with pytest.raises(McpError):
            await s.read_resource("demo://no-such-resource")
        assert [p.name for p in (await s.list_prompts()).prompts] == ["greet"]
        assert (await s.get_prompt("greet", {"name": "Grace"})).messages[0].content.text == "Please greet Grace warmly."
        res = await s.complete(types.PromptReference(type="ref/prompt", name="greet"), {"name": "name", "value": "a"})
        assert res.completion.values == ["Ada", "Alan"]
        # the update of a resource the session subscribed to, raised by a `touch` of the other SSE session
        await check_counter_subscription(s, toucher, got, "demo://items/3")
        sid, toucher_sid = s.sid, toucher.sid
    assert updates == ["demo://counter"], updates
    assert questions == ["Through nginx?", "First question?", "Second question?"]
    holder = holder_of(cluster, sse, sid)
    posts = post_upstreams(cluster, sse, sid)
    assert posts and all(e.status == 202 for e, _ in posts), [(e.describe(), r) for e, r in posts]
    spread = {r for _, r in posts}
    assert len(spread) > 1 or len(cluster.replicas) == 1, f"every POST of the session landed on {spread}"
    answers = [(e.request_body["id"], r) for e, r in posts if isinstance(e.request_body, dict) and "result" in e.request_body]
    assert len(answers) == 5, answers  # ask, ask-twice (2), summarize, list-roots
    if len(cluster.replicas) > 1:
        assert any(r != holder for _, r in answers), f"every answer landed on {holder}, the stream's holder: {answers}"
    # nginx's access log says the same: the POSTs of the session spread, and answers landed away from the stream
    expected = sorted(r for _, r in posts)
    logged = access_log_upstreams(cluster, sid)
    with anyio.move_on_after(2):  # nginx logs a request once it has sent all of it
        while sorted(r for m, _, r in logged if m == "POST") != expected:
            await anyio.sleep(0.05)
            logged = access_log_upstreams(cluster, sid)
    assert sorted(r for m, _, r in logged if m == "POST") == sorted(r for _, r in posts), (logged, [(e.describe(), r) for e, r in posts])
    assert [(m, r) for m, _, r in logged if m == "GET"] in ([], [("GET", holder)]), logged  # logged once the GET ended
    print(f"stream of {sid[:16]}... on {holder}; its POSTs by replica: "
          + ", ".join(f"{n} {sum(1 for _, r in posts if r == n)}" for n in sorted(spread))
          + f"; the elicitation/sampling/roots answers landed on {[r for _, r in answers]}; toucher {toucher_sid[:16]}... "
          f"on {holder_of(cluster, sse, toucher_sid)}")


@pytest.mark.restarts_replicas
async def test_mcp1_sse_draining_holder_keeps_the_stream_until_the_countdown_answers(cluster, sse):
    """SIGTERM to the replica holding the stream while a countdown runs on another replica: every progress and the
    response still arrive, then the stream ends; the replica exits within its drain; the session is gone (404)."""
    if len(cluster.replicas) < 2:
        pytest.skip("needs a second replica")
    progress: list[float] = []
    first = anyio.Event()
    stopped: dict = {}

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)
        first.set()

    holder = None
    mark = sse.mark()
    try:
        async with sse_v1_session(sse, cluster.nginx) as s:
            sid = s.sid
            holder = next(r for r in cluster.replicas if r.name == holder_of(cluster, sse, sid))
            await s.list_tools()  # (else mcp 1.x lists them after the call's result, to check output schemas: a POST in the drain)
            await steer_away(s, cluster, sse, holder.name, mark)

            def stop() -> None:
                stopped.update(cluster_ctl.stop(cluster.state_dir, holder.name))

            async with anyio.create_task_group() as tg:
                async def sigterm_on_first_progress() -> None:
                    await first.wait()
                    await anyio.to_thread.run_sync(stop)

                tg.start_soon(sigterm_on_first_progress)
                with anyio.fail_after(15):
                    r = await s.call_tool("countdown", {"steps": 10, "intervalMs": 200}, progress_callback=on_progress)
            runner = await posted_to(cluster, sse, sid, "countdown")
            assert runner != holder.name, f"the countdown ran on {runner}, the stream's holder"
            assert text_of(r) == "done" and progress == [float(i) for i in range(1, 11)], progress
            stream = sse.stream_of(sid)
            with anyio.move_on_after(5):
                while not sse.sse_sessions[sid].ended:
                    await anyio.sleep(0.02)
            assert sse.sse_sessions[sid].ended, "the draining replica did not end the stream after the countdown answered"
            assert stream.status == 200
        assert stopped.get("graceful"), f"{holder.name} did not exit within its grace: {stopped}"
        async with httpx.AsyncClient(transport=make_tee_transport(httpx)(sse), timeout=5) as http:
            resp = await http.post(f"{cluster.nginx.base_url}/messages?sessionId={sid}", json={"jsonrpc": "2.0", "id": "after", "method": "ping"})
            assert not refusal_problems(resp, 404, -32600, GONE_WORDS), refusal_problems(resp, 404, -32600, GONE_WORDS)
        print(f"drain: {holder.name} held the stream, the countdown ran on {runner}; stopped in {stopped.get('stopped_s', 0):.2f} s")
    finally:
        if holder is not None:
            await anyio.to_thread.run_sync(cluster.restart, holder)


@pytest.mark.restarts_replicas
async def test_mcp1_sse_killed_runner_ends_the_call_with_32010(cluster, sse):
    """SIGKILL to the replica running a slow countdown (not the stream's holder): the call ends with the JSON-RPC
    error -32010 (replica_lost) within about a lease period, and the session goes on."""
    if len(cluster.replicas) < 2:
        pytest.skip("needs a second replica")
    first = anyio.Event()

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        first.set()

    victim = None
    killed_at = 0.0
    mark = sse.mark()
    try:
        async with sse_v1_session(sse, cluster.nginx) as s:
            sid = s.sid
            holder = holder_of(cluster, sse, sid)
            await steer_away(s, cluster, sse, holder, mark)
            error = None
            ended_at = None

            async def kill_on_first_progress() -> None:
                nonlocal victim, killed_at
                await first.wait()
                name = await posted_to(cluster, sse, sid, "countdown")
                victim = next(r for r in cluster.replicas if r.name == name)
                assert victim.name != holder, f"the countdown ran on {holder}, the stream's holder"
                os.kill(cluster_ctl.pid_of(cluster.state_dir, victim.name), signal.SIGKILL)
                killed_at = time.monotonic()

            async with anyio.create_task_group() as tg:
                tg.start_soon(kill_on_first_progress)
                with anyio.fail_after(30):
                    try:
                        await s.call_tool("countdown", {"steps": 300, "intervalMs": 100}, progress_callback=on_progress,
                                          read_timeout_seconds=timedelta(seconds=25))
                    except McpError as exc:
                        error = exc.error
                    ended_at = time.monotonic()
            assert victim is not None and killed_at
            took = ended_at - killed_at
            assert error is not None, "the countdown of the killed replica completed"
            assert error.code == -32010, error
            assert isinstance(error.data, dict) and error.data.get("reason") == "replica_lost", error
            assert error.data.get("replica") == victim.name, error
            assert took < KILL_WAIT, f"-32010 came {took:.1f} s after the SIGKILL (more than {KILL_WAIT:.0f} s)"
            # the stream (on a live replica) still serves the session
            assert text_of(await s.call_tool("echo", {"text": "still here"})) == "still here"
            print(f"kill: countdown on {victim.name} (stream on {holder}) ended with -32010 {took:.2f} s after the SIGKILL")
    finally:
        if victim is not None:
            await anyio.to_thread.run_sync(cluster.restart, victim)


@pytest.mark.restarts_replicas
async def test_mcp1_sse_killed_holder_then_posts_get_404(cluster, sse):
    """SIGKILL to the replica holding the stream: POSTs for the session, through nginx and to each surviving replica,
    each answer at once (never a hang), and within a few seconds it is 404 (open a new stream)."""
    if len(cluster.replicas) < 2:
        pytest.skip("needs a second replica")
    holder = None
    timeline: list[tuple[float, str, Any]] = []
    stack = contextlib.AsyncExitStack()
    s = await stack.enter_async_context(sse_v1_session(sse, cluster.nginx))
    try:
        sid = s.sid
        holder = next(r for r in cluster.replicas if r.name == holder_of(cluster, sse, sid))
        assert text_of(await s.call_tool("echo", {"text": "before"})) == "before"
        os.kill(cluster_ctl.pid_of(cluster.state_dir, holder.name), signal.SIGKILL)
        t0 = time.monotonic()
        targets = [cluster.nginx] + [r for r in cluster.replicas if r is not holder]
        gone: dict[str, Any] = {}
        async with httpx.AsyncClient(transport=make_tee_transport(httpx)(sse), timeout=httpx.Timeout(5.0)) as http:
            n = 0
            while len(gone) < len(targets) and time.monotonic() - t0 < KILL_WAIT + 2:
                for t in targets:
                    if t.name in gone:
                        continue
                    n += 1
                    t1 = time.monotonic()
                    try:
                        resp = await http.post(f"{t.base_url}/messages?sessionId={sid}", json={"jsonrpc": "2.0", "id": f"after-kill-{n}", "method": "ping"})
                    except httpx.TimeoutException:
                        pytest.fail(f"a POST for the session to {t.name} hung for 5 s, {t1 - t0:.1f} s after its stream's replica was killed: {timeline}")
                    timeline.append((round(time.monotonic() - t0, 2), t.name, resp.status_code))
                    if resp.status_code == 404:
                        gone[t.name] = resp
                await anyio.sleep(0.2)
        assert set(gone) == {t.name for t in targets}, f"not 404 within {KILL_WAIT + 2:.0f} s of the SIGKILL: {timeline}"
        for name, resp in gone.items():
            assert not refusal_problems(resp, 404, -32600, GONE_WORDS), (name, refusal_problems(resp, 404, -32600, GONE_WORDS))
        assert all(status in (202, 404) for _, _, status in timeline), timeline
        print(f"kill: stream holder {holder.name}; POSTs for its session: {timeline}")
    finally:
        with contextlib.suppress(Exception):  # the client's stream broke with the replica: its teardown may complain
            await stack.aclose()
        if holder is not None:
            await anyio.to_thread.run_sync(cluster.restart, holder)
