"""Interop: the official MCP Python SDK client mcp==1.30.0 (legacy only: `streamable_http_client` +
`ClientSession`, protocol up to 2025-11-25) against the Swift demo server.

Runs in its own venv (requirements-v1.txt; run.sh). Every message the server sends is validated
against the schema of the session's negotiated version by the `connect` fixture, through an `httpx`
tee (`connect.httpx()`), the HTTP library mcp 1.x uses.
"""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.context import RequestContext
from mcp.shared.exceptions import McpError
from demo_contract import STATIC_RESOURCES, TOOLS, Recorder, check_countdown_logging, check_counter_subscription, poll_stats, stats, text_of

pytestmark = pytest.mark.anyio



@contextlib.asynccontextmanager
async def v1_session(conn, **kw: Any):
    """An initialized mcp 1.x ClientSession on the validating httpx tee; `.init` is the
    InitializeResult and `.get_session_id()` the transport's session id."""
    kw.setdefault("read_timeout_seconds", timedelta(seconds=15))
    kw.setdefault("client_info", types.Implementation(name="swift-mcp-interop-v1", version="1.0"))
    async with conn.httpx() as http:
        async with streamable_http_client(conn.url, http_client=http) as (read, write, get_session_id):
            async with ClientSession(read, write, **kw) as s:
                s.init = await s.initialize()
                s.get_session_id = get_session_id
                yield s


async def test_handshake_lists_and_ping(connect):
    mark = connect.wire.mark()
    async with v1_session(connect) as s:
        assert s.init.protocolVersion == "2025-11-25"
        assert s.init.serverInfo.name == "mcp-demo-server"
        caps = s.init.capabilities
        assert caps.tools is not None and caps.prompts is not None and caps.logging is not None
        assert caps.resources is not None and caps.resources.subscribe is True
        sid = s.get_session_id()
        assert sid and all(0x21 <= ord(c) <= 0x7E for c in sid)
        assert {t.name for t in (await s.list_tools()).tools} == TOOLS
        assert {str(r.uri) for r in (await s.list_resources()).resources} == STATIC_RESOURCES
        assert [t.uriTemplate for t in (await s.list_resource_templates()).resourceTemplates] == ["demo://items/{id}"]
        assert [p.name for p in (await s.list_prompts()).prompts] == ["greet"]
        await s.send_ping()
    exchanges, _, _, _ = connect.wire.since(mark)
    methods = [(e.http_method, e.rpc_method) for e in exchanges]
    assert methods[0] == ("POST", "initialize") and exchanges[0].rpc_id == 0
    assert ("GET", None) in methods
    assert methods[-1] == ("DELETE", None)
    assert all(e.request_headers.get("mcp-session-id") == sid for e in exchanges[1:])


async def test_tools_echo_add_fail(connect):
    async with v1_session(connect) as s:
        assert text_of(await s.call_tool("echo", {"text": "héllo ✓"})) == "héllo ✓"
        r = await s.call_tool("add", {"a": 2, "b": 3})  # the client validates it against the outputSchema
        assert r.structuredContent == {"sum": 5} and text_of(r) == "5"
        r = await s.call_tool("fail", {})
        assert r.isError is True and "fail" in text_of(r)


async def test_resources_prompts_completion(connect):
    async with v1_session(connect) as s:
        rr = await s.read_resource("demo://greeting")
        assert rr.contents[0].text == "Hello from the MCP demo server!"
        rr = await s.read_resource("demo://items/7")
        assert [(str(x.uri), x.text) for x in rr.contents] == [("demo://items/7", "item 7")]
        gp = await s.get_prompt("greet", {"name": "Grace"})
        assert gp.messages[0].content.text == "Please greet Grace warmly."
        res = await s.complete(types.PromptReference(type="ref/prompt", name="greet"), {"name": "name", "value": "a"})
        assert res.completion.values == ["Ada", "Alan"]
        res = await s.complete(types.ResourceTemplateReference(type="ref/resource", uri="demo://items/{id}"), {"name": "id", "value": "2"})
        assert res.completion.values == ["2", "20"]
        with pytest.raises(McpError):
            await s.read_resource("demo://no-such-resource")


async def test_countdown_progress_and_logging_after_set_level(connect):
    seen = Recorder()
    async with v1_session(connect, logging_callback=seen.on_log) as s:
        await check_countdown_logging(s, seen, quiet_level="critical")


async def test_ask_ask_twice_declined(connect):
    questions = []

    async def elicit(ctx: RequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        questions.append(params.message)
        if params.message == "Tell me?":
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"answer": f"a{len(questions)}"})

    mark = connect.wire.mark()
    async with v1_session(connect, elicitation_callback=elicit) as s:
        assert text_of(await s.call_tool("ask", {"question": "What?"})) == "answer: a1"
        assert text_of(await s.call_tool("ask-twice", {})) == "first: a2, second: a3"
        assert text_of(await s.call_tool("ask", {"question": "Tell me?"})) == "answer: (decline)"
    assert questions == ["What?", "First question?", "Second question?", "Tell me?"]
    exchanges, recorded, _, _ = connect.wire.since(mark)
    asked = [x.message["id"] for x in recorded if x.kind == "request"]
    assert len(asked) == 4 and len(set(asked)) == 4
    answers = [e for e in exchanges if isinstance(e.request_body, dict) and "method" not in e.request_body]
    assert sorted(json.dumps(e.request_body["id"]) for e in answers) == sorted(json.dumps(i) for i in asked)
    assert all(e.status == 202 for e in answers)


async def test_summarize_sampling_and_list_roots(connect):
    seen = []

    async def sample(ctx: RequestContext, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        seen.append(params)
        return types.CreateMessageResult(
            role="assistant", model="interop-model", content=types.TextContent(type="text", text="Short."), stopReason="endTurn"
        )

    async def roots(ctx: RequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/project-a", name="a"), types.Root(uri="file:///srv/b")])

    async with v1_session(connect, sampling_callback=sample, list_roots_callback=roots) as s:
        assert text_of(await s.call_tool("summarize", {"text": "The quick brown fox."})) == "Short."
        assert text_of(await s.call_tool("list-roots", {})).split("\n") == ["file:///tmp/project-a", "file:///srv/b"]
    assert len(seen) == 1 and seen[0].maxTokens > 0 and "The quick brown fox." in seen[0].messages[0].content.text


async def test_subscribe_touch_notification(connect):
    updates = []
    got = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ServerNotification) and isinstance(message.root, types.ResourceUpdatedNotification):
            updates.append(str(message.root.params.uri))
            got.set()

    async with v1_session(connect, message_handler=on_message) as s, v1_session(connect) as toucher:
        await check_counter_subscription(s, toucher, got, "demo://items/3")
    assert updates == ["demo://counter"]


async def test_cancelled_notification_cancels_handler(connect):
    """mcp 1.x sends nothing when the caller gives up, so the test sends notifications/cancelled
    itself; the server cancels the handler and sends no response on the request's stream."""
    mark = connect.wire.mark()
    async with v1_session(connect) as worker, v1_session(connect) as observer:
        before = await stats(observer)
        started = anyio.Event()

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            started.set()

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:

                async def run() -> None:
                    await worker.call_tool("countdown", {"steps": 1000, "intervalMs": 20}, progress_callback=on_progress)

                tg.start_soon(run)
                await started.wait()
                exchanges, _, _, _ = connect.wire.since(mark)
                (call,) = [e for e in exchanges if e.rpc_method == "tools/call" and e.request_body["params"]["name"] == "countdown"]
                await worker.send_notification(
                    types.ClientNotification(
                        types.CancelledNotification(params=types.CancelledNotificationParams(requestId=call.rpc_id, reason="interop test"))
                    )
                )
                after = await poll_stats(observer, lambda s: s["cancelledHandlers"] > before["cancelledHandlers"])
                tg.cancel_scope.cancel()  # the client still waits for a response that never comes
        assert after["cancelledHandlers"] == before["cancelledHandlers"] + 1, (before, after)
        with anyio.move_on_after(5):
            while not call.complete:
                await anyio.sleep(0.05)
        assert call.complete, "the cancelled request's SSE stream was not ended by the server"
        assert [m for m in call.messages if "result" in m or "error" in m] == [], "a response followed the cancellation"
    exchanges, _, _, _ = connect.wire.since(mark)
    assert [e.status for e in exchanges if e.rpc_method == "notifications/cancelled"] == [202]


async def test_session_terminated_on_exit_then_404(connect):
    mark = connect.wire.mark()
    async with v1_session(connect) as s:
        sid = s.get_session_id()
        await s.send_ping()
    exchanges, _, _, _ = connect.wire.since(mark)
    assert [e.status for e in exchanges if e.http_method == "DELETE"] == [200]
    async with connect.httpx() as http:
        r = await http.post(
            connect.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25", "accept": "application/json, text/event-stream"},
        )
        assert r.status_code == 404


async def test_resume_after_server_closes_connections(connect, poll_server):
    """--sse-poll-after-ms 300: the server closes every SSE connection 300 ms after opening it; the
    client waits `retry` ms, resumes with GET + Last-Event-ID, and receives every progress event and
    the final result exactly once."""
    conn = connect.to(poll_server)
    progress = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    mark = conn.wire.mark()
    async with v1_session(conn) as s:
        with anyio.fail_after(20):
            r = await s.call_tool("countdown", {"steps": 5, "intervalMs": 200}, progress_callback=on_progress)
        assert text_of(r) == "done"
    assert progress == [1.0, 2.0, 3.0, 4.0, 5.0]
    exchanges, _, _, _ = conn.wire.since(mark)
    (post,) = [e for e in exchanges if e.rpc_method == "tools/call"]
    resumes = [e for e in exchanges if e.http_method == "GET" and e.origin is post]
    assert resumes, "the client never resumed the countdown's stream"
    assert all(e.status == 200 for e in resumes), [e.describe() for e in resumes]
    delivered = [m for e in [post, *resumes] for m in e.messages]
    assert [m["params"]["progress"] for m in delivered if m.get("method") == "notifications/progress"] == [1, 2, 3, 4, 5]
    assert [m["id"] for m in delivered if "result" in m] == [post.rpc_id]


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18"])
async def test_older_protocol_versions(connect, monkeypatch, version):
    """The same client pinned to an older version: the server negotiates it, and everything it
    sends is validated against that version's schema."""
    monkeypatch.setattr(types, "LATEST_PROTOCOL_VERSION", version)
    progress = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async def elicit(ctx: RequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"answer": "old"})

    mark = connect.wire.mark()
    kw = {"elicitation_callback": elicit} if version >= "2025-06-18" else {}
    async with v1_session(connect, **kw) as s:
        assert s.init.protocolVersion == version
        assert {t.name for t in (await s.list_tools()).tools} == TOOLS
        assert text_of(await s.call_tool("echo", {"text": version})) == version
        assert (await s.call_tool("add", {"a": 1, "b": 2})).structuredContent == {"sum": 3}
        r = await s.call_tool("countdown", {"steps": 2, "intervalMs": 5}, progress_callback=on_progress)
        assert text_of(r) == "done" and progress == [1.0, 2.0]
        assert (await s.read_resource("demo://greeting")).contents[0].text == "Hello from the MCP demo server!"
        await s.send_ping()
        if kw:
            assert text_of(await s.call_tool("ask", {"question": "Old?"})) == "answer: old"
    exchanges, recorded, _, _ = connect.wire.since(mark)
    assert all(e.request_headers.get("mcp-protocol-version") == version for e in exchanges[2:] if e.http_method == "POST")
    assert any(r.definition == "CallToolResult" for r in recorded)
    assert set(connect.wire.by_definition) >= {f"{version}/CallToolResult", f"{version}/InitializeResult"}
