"""Interop: the official MCP Python SDK client mcp==2.3.0 in legacy mode (`Client(url, mode="legacy")`:
initialize handshake, Mcp-Session-Id, standalone GET stream, server-to-client requests on SSE,
DELETE on exit) against the Swift demo server, protocol 2025-11-25.

Every message the server sends is validated against the 2025-11-25 schema by the `connect` fixture.
"""

from __future__ import annotations

import anyio
import mcp_types as types
import pytest
from mcp import MCPError
from mcp.client.session import ClientRequestContext
from demo_contract import STATIC_RESOURCES, TOOLS, Recorder, check_countdown_logging, check_counter_subscription, poll_stats, stats, text_of

pytestmark = [
    pytest.mark.anyio,
    # ping, logging/setLevel, resources/subscribe: deprecated at 2026-07-28, exactly what legacy mode is for
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

LEGACY = "2025-11-25"


def session_ids(connect, mark) -> list[str]:
    exchanges, _, _, _ = connect.wire.since(mark)
    return [e.response_headers["mcp-session-id"] for e in exchanges if e.rpc_method == "initialize" and e.status == 200]


async def test_handshake_and_lists(connect):
    mark = connect.wire.mark()
    async with connect(mode="legacy") as c:
        assert c.protocol_version == LEGACY
        assert c.server_info is not None and c.server_info.name == "mcp-demo-server"
        caps = c.server_capabilities
        assert caps.tools is not None and caps.prompts is not None and caps.logging is not None
        assert caps.resources is not None and caps.resources.subscribe is True
        assert c.instructions
        assert {t.name for t in (await c.list_tools()).tools} == TOOLS
        assert {r.uri for r in (await c.list_resources()).resources} == STATIC_RESOURCES
        assert [t.uri_template for t in (await c.list_resource_templates()).resource_templates] == ["demo://items/{id}"]
        assert [p.name for p in (await c.list_prompts()).prompts] == ["greet"]
        await c.send_ping()
    exchanges, _, _, _ = connect.wire.since(mark)
    methods = [(e.http_method, e.rpc_method) for e in exchanges]
    assert methods[0] == ("POST", "initialize")
    assert ("POST", "notifications/initialized") in methods
    assert ("GET", None) in methods, "the legacy client opens the standalone stream"
    assert methods[-1] == ("DELETE", None), methods[-3:]
    assert not [m for m in methods if m[1] == "server/discover"]


async def test_tools_echo_add_fail(connect):
    async with connect(mode="legacy") as c:
        assert text_of(await c.call_tool("echo", {"text": "héllo ✓"})) == "héllo ✓"
        r = await c.call_tool("add", {"a": 2, "b": 3})  # validated against the outputSchema by the client
        assert r.structured_content == {"sum": 5} and text_of(r) == "5"
        r = await c.call_tool("fail", {})
        assert r.is_error is True and "fail" in text_of(r)


async def test_resources_prompts_completion(connect):
    async with connect(mode="legacy") as c:
        rr = await c.read_resource("demo://greeting")
        assert rr.contents[0].text == "Hello from the MCP demo server!"
        rr = await c.read_resource("demo://items/café")
        assert [(x.uri, x.text) for x in rr.contents] == [("demo://items/café", "item café")]
        gp = await c.get_prompt("greet", {"name": "Grace"})
        assert gp.messages[0].content.text == "Please greet Grace warmly."
        res = await c.complete(types.PromptReference(type="ref/prompt", name="greet"), {"name": "name", "value": "a"})
        assert res.completion.values == ["Ada", "Alan"]
        with pytest.raises(MCPError) as ei:
            await c.read_resource("demo://no-such-resource")
        assert ei.value.code in (types.INVALID_PARAMS, -32002), ei.value


async def test_countdown_progress_and_logging_after_set_level(connect):
    seen = Recorder()
    async with connect(mode="legacy", logging_callback=seen.on_log) as c:
        await check_countdown_logging(c, seen, quiet_level="error")


async def test_ask_elicitation(connect):
    seen = []

    async def elicit(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        seen.append(params)
        return types.ElicitResult(action="accept", content={"answer": "forty-two"})

    mark = connect.wire.mark()
    async with connect(mode="legacy", elicitation_callback=elicit) as c:
        r = await c.call_tool("ask", {"question": "What is the answer?"})
        assert text_of(r) == "answer: forty-two"
    assert [p.message for p in seen] == ["What is the answer?"]
    _, recorded, _, _ = connect.wire.since(mark)
    requests = [x.message for x in recorded if x.kind == "request"]
    assert [m["method"] for m in requests] == ["elicitation/create"]
    exchanges, _, _, _ = connect.wire.since(mark)
    answers = [e for e in exchanges if isinstance(e.request_body, dict) and e.request_body.get("id") == requests[0]["id"] and "method" not in e.request_body]
    assert [e.status for e in answers] == [202]


async def test_ask_twice_and_declined(connect):
    questions = []

    async def elicit(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        questions.append(params.message)
        if params.message == "Tell me?":
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"answer": f"a{len(questions)}"})

    async with connect(mode="legacy", elicitation_callback=elicit) as c:
        assert text_of(await c.call_tool("ask-twice", {})) == "first: a1, second: a2"
        assert text_of(await c.call_tool("ask", {"question": "Tell me?"})) == "answer: (decline)"
    assert questions == ["First question?", "Second question?", "Tell me?"]


async def test_summarize_sampling_and_list_roots(connect):
    seen = []

    async def sample(ctx: ClientRequestContext, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        seen.append(params)
        return types.CreateMessageResult(
            role="assistant", model="interop-model", content=types.TextContent(type="text", text="Short."), stop_reason="endTurn"
        )

    async def roots(ctx: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/project-a", name="a"), types.Root(uri="file:///srv/b")])

    async with connect(mode="legacy", sampling_callback=sample, list_roots_callback=roots) as c:
        assert text_of(await c.call_tool("summarize", {"text": "The quick brown fox."})) == "Short."
        assert text_of(await c.call_tool("list-roots", {})).split("\n") == ["file:///tmp/project-a", "file:///srv/b"]
    assert len(seen) == 1 and seen[0].max_tokens > 0 and "The quick brown fox." in seen[0].messages[0].content.text


async def test_subscribe_touch_notification(connect):
    updates = []
    got = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(message.params.uri)
            got.set()

    async with connect(mode="legacy", message_handler=on_message) as c, connect(mode="legacy") as toucher:
        await check_counter_subscription(c, toucher, got, "demo://greeting")
    assert updates == ["demo://counter"]


async def test_cancel_sends_notification_and_cancels_handler(connect):
    mark = connect.wire.mark()
    async with connect(mode="legacy") as worker, connect(mode="legacy") as observer:
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
                tg.cancel_scope.cancel()
        after = await poll_stats(observer, lambda s: s["cancelledHandlers"] > before["cancelledHandlers"])
        assert after["cancelledHandlers"] == before["cancelledHandlers"] + 1, (before, after)
    exchanges, _, _, _ = connect.wire.since(mark)
    cancels = [e for e in exchanges if e.rpc_method == "notifications/cancelled"]
    assert cancels and all(e.status == 202 for e in cancels), [(e.describe(), e.request_body) for e in cancels]


async def test_exit_deletes_session(connect):
    mark = connect.wire.mark()
    async with connect(mode="legacy") as c:
        await c.send_ping()
    (sid,) = session_ids(connect, mark)
    exchanges, _, _, _ = connect.wire.since(mark)
    deletes = [e for e in exchanges if e.http_method == "DELETE"]
    assert [e.status for e in deletes] == [200]
    async with connect.http() as http:
        r = await http.post(
            connect.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"mcp-session-id": sid, "mcp-protocol-version": LEGACY, "accept": "application/json, text/event-stream"},
        )
        assert r.status_code == 404


async def test_resume_after_server_closes_connections(connect, poll_server):
    """--sse-poll-after-ms 300: the server closes every SSE connection after 300 ms; the client
    reconnects with GET + Last-Event-ID and gets every progress event and the result exactly once."""
    conn = connect.to(poll_server)
    progress = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    mark = conn.wire.mark()
    async with conn(mode="legacy") as c:
        with anyio.fail_after(20):
            r = await c.call_tool("countdown", {"steps": 5, "intervalMs": 200}, progress_callback=on_progress)
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
