"""Interop: the official MCP Python SDK client (mcp==2.3.0) against the Swift demo server, protocol
2026-07-28 over Streamable HTTP.

Every message the server sends during these tests is validated against the official schema by the
`connect` fixture (see conftest.py and interop_wire.py); a violation fails the test at teardown.
"""

from __future__ import annotations

import json

import anyio
import mcp_types as types
import pytest
from mcp import MCPError
from mcp.client.session import ClientRequestContext
from mcp.client.subscriptions import ResourceUpdated

from conftest import REPLICA_ID
from interop_wire import MODERN
from demo_contract import STATIC_RESOURCES, TOOLS, poll_stats, stats, text_of

pytestmark = pytest.mark.anyio

NAMES = ["Ada", "Alan", "Barbara", "Edsger", "Grace", "Ken", "Linus", "Margaret"]


async def read_json(client, uri: str) -> dict:
    rr = await client.read_resource(uri)
    assert len(rr.contents) == 1
    return json.loads(rr.contents[0].text)


def exchanges_for(connect, mark, method: str):
    exchanges, _, _, _ = connect.wire.since(mark)
    return [e for e in exchanges if e.rpc_method == method]


# --------------------------------------------------------------------------------------------------
# Discovery and lists
# --------------------------------------------------------------------------------------------------


async def test_auto_mode_discovers_modern_server(connect):
    mark = connect.wire.mark()
    async with connect(mode="auto") as c:
        assert c.protocol_version == MODERN
        dr = c.session.discover_result
        assert dr is not None and MODERN in dr.supported_versions
        assert c.server_info is not None and c.server_info.name == "mcp-demo-server"
        caps = c.server_capabilities
        assert caps.tools is not None and caps.prompts is not None and caps.completions is not None
        assert caps.resources is not None and caps.resources.subscribe is True
        assert c.instructions
        # the session is usable after discovery
        assert text_of(await c.call_tool("echo", {"text": "after discover"})) == "after discover"
    discover = exchanges_for(connect, mark, "server/discover")
    assert len(discover) == 1, "auto mode should probe with exactly one server/discover"
    assert not exchanges_for(connect, mark, "initialize"), "a 2026-07-28 server must not need the legacy handshake"
    result = discover[0].messages[-1]["result"]
    assert isinstance(result["ttlMs"], int) and result["ttlMs"] >= 0
    assert result["cacheScope"] in ("public", "private")
    assert discover[0].request_headers.get("mcp-method") == "server/discover"


async def test_list_tools(connect):
    async with connect() as c:
        lt = await c.list_tools()
        assert {t.name for t in lt.tools} == TOOLS
        assert lt.next_cursor is None, "a short list must not carry a nextCursor"
        assert lt.ttl_ms is not None and lt.ttl_ms >= 0 and lt.cache_scope in ("public", "private")
        by_name = {t.name: t for t in lt.tools}
        assert by_name["add"].output_schema is not None
        assert by_name["add"].output_schema["properties"]["sum"]["type"] == "number"
        for t in lt.tools:
            assert t.input_schema.get("type") == "object", t


async def test_list_resources_and_templates(connect):
    async with connect() as c:
        lr = await c.list_resources()
        assert {r.uri for r in lr.resources} == STATIC_RESOURCES
        assert lr.next_cursor is None
        assert lr.ttl_ms is not None and lr.cache_scope in ("public", "private")
        lt = await c.list_resource_templates()
        assert [t.uri_template for t in lt.resource_templates] == ["demo://items/{id}"]
        assert lt.next_cursor is None
        assert lt.ttl_ms is not None and lt.cache_scope in ("public", "private")


async def test_list_prompts(connect):
    async with connect() as c:
        lp = await c.list_prompts()
        assert [p.name for p in lp.prompts] == ["greet"]
        assert lp.next_cursor is None
        args = lp.prompts[0].arguments
        assert [(a.name, a.required) for a in args] == [("name", True)]


# --------------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------------


async def test_echo(connect):
    async with connect() as c:
        r = await c.call_tool("echo", {"text": "héllo, wörld ✓"})
        assert r.is_error is False
        assert text_of(r) == "héllo, wörld ✓"


async def test_add_structured_content(connect):
    mark = connect.wire.mark()
    async with connect() as c:
        r = await c.call_tool("add", {"a": 2, "b": 3})  # the client also validates against outputSchema
        assert r.is_error is False
        assert r.structured_content == {"sum": 5}
        assert text_of(r) == "5"
        r = await c.call_tool("add", {"a": 1.5, "b": 2.25})
        assert r.structured_content == {"sum": 3.75}
    calls = exchanges_for(connect, mark, "tools/call")
    assert calls and all(e.request_headers.get("mcp-name") == "add" for e in calls)


async def test_add_invalid_arguments_is_tool_error(connect):
    async with connect() as c:
        r = await c.call_tool("add", {"a": "two", "b": 3})  # input validation errors are tool errors
        assert r.is_error is True
        assert text_of(r)


async def test_list_with_bogus_cursor_is_invalid_params(connect):
    async with connect() as c:
        with pytest.raises(MCPError) as ei:
            await c.list_tools(cursor="not-a-cursor-this-server-issued")
        assert ei.value.code == types.INVALID_PARAMS


async def test_echo_large_text(connect):
    text = "0123456789abcdef" * 16384 + "é✓"  # 256 KiB and then some non-ASCII
    async with connect() as c:
        r = await c.call_tool("echo", {"text": text})
        assert text_of(r) == text


async def test_concurrent_calls_on_one_client(connect):
    results = {}
    async with connect() as c:

        async def one(i: int) -> None:
            r = await c.call_tool("add", {"a": i, "b": 1000})
            results[i] = r.structured_content["sum"]

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for i in range(16):
                    tg.start_soon(one, i)
    assert results == {i: i + 1000 for i in range(16)}


async def test_fail_is_tool_error(connect):
    async with connect() as c:
        r = await c.call_tool("fail", {})
        assert r.is_error is True
        assert "fail" in text_of(r)


async def test_unknown_tool_is_an_error(connect):
    async with connect() as c:
        try:
            r = await c.call_tool("no-such-tool", {})
        except MCPError as e:
            assert e.code == types.INVALID_PARAMS, e
        else:
            assert r.is_error is True


async def test_countdown_progress_and_logging(connect):
    progress, logs = [], []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async with connect(logging_callback=on_log, log_level="info") as c:
        with anyio.fail_after(10):
            r = await c.call_tool("countdown", {"steps": 3, "intervalMs": 10}, progress_callback=on_progress)
        assert text_of(r) == "done"
    assert [(p[0], p[1]) for p in progress] == [(1.0, 3.0), (2.0, 3.0), (3.0, 3.0)]
    assert all(isinstance(p[2], str) and p[2] for p in progress)
    assert len(logs) == 3, logs
    assert all(l.level == "info" for l in logs)


async def test_countdown_no_logs_without_log_level(connect):
    logs, progress = [], []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    mark = connect.wire.mark()
    async with connect(logging_callback=on_log) as c:  # no log_level: the client did not opt in
        r = await c.call_tool("countdown", {"steps": 2, "intervalMs": 5}, progress_callback=on_progress)
        assert text_of(r) == "done"
        r = await c.call_tool("countdown", {"steps": 2, "intervalMs": 5})  # no progress token either
        assert text_of(r) == "done"
    assert logs == []
    assert progress == [1.0, 2.0]
    _, recorded, _, _ = connect.wire.since(mark)
    sent = [m.message["method"] for m in recorded if m.kind == "notification"]
    assert "notifications/message" not in sent
    assert sent.count("notifications/progress") == 2, sent


async def test_countdown_log_level_above_info_filters(connect):
    logs = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async with connect(logging_callback=on_log, log_level="warning") as c:
        r = await c.call_tool("countdown", {"steps": 2, "intervalMs": 5})
        assert text_of(r) == "done"
    assert logs == [], "info messages must not be sent when the request asked for warning and above"


async def test_countdown_log_level_per_request_override(connect):
    logs = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async with connect(logging_callback=on_log, log_level="error") as c:
        await c.call_tool("countdown", {"steps": 2, "intervalMs": 5})
        assert logs == []
        await c.call_tool("countdown", {"steps": 2, "intervalMs": 5}, meta={"io.modelcontextprotocol/logLevel": "debug"})
        assert [l.level for l in logs] == ["info", "info"]
        with pytest.raises(MCPError) as ei:
            await c.call_tool("echo", {"text": "x"}, meta={"io.modelcontextprotocol/logLevel": "loud"})
        assert ei.value.code == types.INVALID_PARAMS


async def test_ask_elicitation(connect):
    seen = []

    async def elicit(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        seen.append(params)
        return types.ElicitResult(action="accept", content={"answer": "forty-two"})

    mark = connect.wire.mark()
    async with connect(elicitation_callback=elicit) as c:
        r = await c.call_tool("ask", {"question": "What is the answer?"})
        assert r.is_error is False
        assert text_of(r) == "answer: forty-two"
    assert len(seen) == 1
    p = seen[0]
    assert isinstance(p, types.ElicitRequestFormParams)
    assert p.mode in (None, "form")
    assert p.message == "What is the answer?"
    assert p.requested_schema["properties"]["answer"]["type"] == "string"
    calls = exchanges_for(connect, mark, "tools/call")
    kinds = [e.messages[-1]["result"].get("resultType") for e in calls if e.messages and "result" in e.messages[-1]]
    assert kinds[:2] == ["input_required", "complete"], kinds


async def test_ask_declined(connect):
    async def elicit(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async with connect(elicitation_callback=elicit) as c:
        r = await c.call_tool("ask", {"question": "Tell me?"})
        assert text_of(r) == "answer: (decline)"


async def test_ask_twice_two_rounds(connect):
    questions = []

    async def elicit(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        questions.append(params.message)
        return types.ElicitResult(action="accept", content={"answer": f"a{len(questions)}"})

    mark = connect.wire.mark()
    async with connect(elicitation_callback=elicit) as c:
        r = await c.call_tool("ask-twice", {})
        assert text_of(r) == "first: a1, second: a2"
    assert questions == ["First question?", "Second question?"]
    calls = exchanges_for(connect, mark, "tools/call")
    kinds = [e.messages[-1]["result"].get("resultType") for e in calls if e.messages and "result" in e.messages[-1]]
    assert kinds[:3] == ["input_required", "input_required", "complete"], kinds
    # each retry carries the requestState of the previous round, byte for byte
    states = [e.messages[-1]["result"].get("requestState") for e in calls[:2]]
    sent = [e.request_body["params"].get("requestState") for e in calls[1:3]]
    assert sent == states


async def _unused_elicitation(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
    raise AssertionError("the manual round trip must not reach the callback")  # only declares the capability


async def test_ask_without_elicitation_capability(connect):
    mark = connect.wire.mark()
    async with connect() as c:  # no elicitation_callback: the client does not declare the capability
        with pytest.raises(MCPError) as ei:
            await c.call_tool("ask", {"question": "Can you answer?"})
        assert ei.value.code == -32021, ei.value  # MissingRequiredClientCapabilityError
    _, recorded, _, _ = connect.wire.since(mark)
    assert [r.kind for r in recorded] == ["error"]
    connect.wire.validator.validate("MissingRequiredClientCapabilityError", recorded[0].message)


async def test_ask_manual_round_trip(connect):
    async with connect(elicitation_callback=_unused_elicitation) as c:
        first = await c.session.call_tool("ask", {"question": "Manual?"}, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult)
        assert first.input_requests and len(first.input_requests) == 1
        (key, req), = first.input_requests.items()
        assert req.method == "elicitation/create"
        final = await c.session.call_tool(
            "ask",
            {"question": "Manual?"},
            input_responses={key: types.ElicitResult(action="accept", content={"answer": "by hand"})},
            request_state=first.request_state,
            allow_input_required=True,
        )
        assert isinstance(final, types.CallToolResult)
        assert text_of(final) == "answer: by hand"


async def test_ask_with_tampered_request_state_is_rejected(connect):
    async with connect(elicitation_callback=_unused_elicitation) as c:
        first = await c.session.call_tool("ask", {"question": "Tamper?"}, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult) and first.request_state
        (key, _), = first.input_requests.items()
        state = first.request_state
        forged = state[:-4] + ("AAAA" if not state.endswith("AAAA") else "BBBB")
        with pytest.raises(MCPError) as ei:
            await c.session.call_tool(
                "ask",
                {"question": "Tamper?"},
                input_responses={key: types.ElicitResult(action="accept", content={"answer": "x"})},
                request_state=forged,
                allow_input_required=True,
            )
        assert ei.value.code == types.INVALID_PARAMS, ei.value


async def test_summarize_sampling(connect):
    seen = []

    async def sample(ctx: ClientRequestContext, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        seen.append(params)
        return types.CreateMessageResult(
            role="assistant",
            model="interop-model",
            content=types.TextContent(type="text", text="A short summary."),
            stop_reason="endTurn",
        )

    async with connect(sampling_callback=sample) as c:
        r = await c.call_tool("summarize", {"text": "The quick brown fox jumps over the lazy dog."})
        assert r.is_error is False
        assert text_of(r) == "A short summary."
    assert len(seen) == 1
    p = seen[0]
    assert p.max_tokens > 0
    assert p.messages and p.messages[0].role == "user"
    assert "The quick brown fox" in p.messages[0].content.text


async def test_list_roots(connect):
    async def roots(ctx: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(
            roots=[types.Root(uri="file:///tmp/project-a", name="a"), types.Root(uri="file:///srv/b")]
        )

    async with connect(list_roots_callback=roots) as c:
        r = await c.call_tool("list-roots", {})
        assert r.is_error is False
        assert text_of(r).split("\n") == ["file:///tmp/project-a", "file:///srv/b"]


# --------------------------------------------------------------------------------------------------
# Resources, prompts, completions
# --------------------------------------------------------------------------------------------------


async def test_read_greeting(connect):
    mark = connect.wire.mark()
    async with connect() as c:
        rr = await c.read_resource("demo://greeting")
        assert len(rr.contents) == 1
        assert rr.contents[0].uri == "demo://greeting"
        assert rr.contents[0].text == "Hello from the MCP demo server!"
        assert rr.ttl_ms is not None and rr.ttl_ms >= 0 and rr.cache_scope in ("public", "private")
    (ex,) = exchanges_for(connect, mark, "resources/read")
    assert ex.request_headers.get("mcp-name") == "demo://greeting"


@pytest.mark.parametrize("item", ["1", "7", "20", "abc"])
async def test_read_item_template(connect, item):
    async with connect() as c:
        rr = await c.read_resource(f"demo://items/{item}")
        assert [(x.uri, x.text) for x in rr.contents] == [(f"demo://items/{item}", f"item {item}")]


@pytest.mark.parametrize("item", ["café", "ünïcödé", "日本"])
async def test_read_item_non_ascii_uri(connect, item):
    """The client sends a non-ASCII Mcp-Name header base64-encoded (=?base64?...?=); the server
    must decode it and find it equal to params.uri."""
    mark = connect.wire.mark()
    uri = f"demo://items/{item}"
    async with connect() as c:
        rr = await c.read_resource(uri)
        assert [(x.uri, x.text) for x in rr.contents] == [(uri, f"item {item}")]
    (ex,) = exchanges_for(connect, mark, "resources/read")
    assert ex.request_headers["mcp-name"].startswith("=?base64?")


async def test_read_counter_and_stats(connect):
    async with connect() as c:
        rr = await c.read_resource("demo://counter")
        assert int(rr.contents[0].text) >= 0
        s = await stats(c)
        assert s["replicaId"] == REPLICA_ID
        assert all(isinstance(s[k], int) for k in ("activeHandlers", "cancelledHandlers", "openListenStreams"))


async def test_read_unknown_resource_is_error(connect):
    mark = connect.wire.mark()
    async with connect() as c:
        with pytest.raises(MCPError) as ei:
            await c.read_resource("demo://no-such-resource")
        assert ei.value.code == types.INVALID_PARAMS, ei.value  # SEP-2164: resource not found is -32602
    _, recorded, _, _ = connect.wire.since(mark)
    assert [r.kind for r in recorded] == ["error"]


async def test_get_prompt(connect):
    async with connect() as c:
        gp = await c.get_prompt("greet", {"name": "Grace"})
        assert len(gp.messages) == 1
        m = gp.messages[0]
        assert m.role == "user"
        assert m.content.type == "text" and m.content.text == "Please greet Grace warmly."


async def test_get_prompt_missing_required_argument(connect):
    async with connect() as c:
        with pytest.raises(MCPError) as ei:
            await c.get_prompt("greet", {})
        assert ei.value.code == types.INVALID_PARAMS


@pytest.mark.parametrize(
    "value,expected",
    [("a", ["Ada", "Alan"]), ("MAR", ["Margaret"]), ("", NAMES), ("z", [])],
)
async def test_complete_prompt_argument(connect, value, expected):
    async with connect() as c:
        res = await c.complete(types.PromptReference(type="ref/prompt", name="greet"), {"name": "name", "value": value})
        assert res.completion.values == expected


@pytest.mark.parametrize(
    "value,expected",
    [("1", ["1"] + [str(i) for i in range(10, 20)]), ("2", ["2", "20"]), ("7", ["7"]), ("9", ["9"])],
)
async def test_complete_template_variable(connect, value, expected):
    async with connect() as c:
        res = await c.complete(
            types.ResourceTemplateReference(type="ref/resource", uri="demo://items/{id}"), {"name": "id", "value": value}
        )
        assert res.completion.values == expected


# --------------------------------------------------------------------------------------------------
# subscriptions/listen
# --------------------------------------------------------------------------------------------------


async def test_listen_receives_resource_updated_from_other_client(connect):
    mark = connect.wire.mark()
    async with connect() as listener, connect() as toucher:
        before = int((await toucher.read_resource("demo://counter")).contents[0].text)
        with anyio.fail_after(10):
            async with listener.listen(resource_subscriptions=["demo://counter"]) as sub:
                assert sub.honored.resource_subscriptions == ["demo://counter"]
                r = await toucher.call_tool("touch", {"uri": "demo://counter"})
                assert r.is_error is False
                event = await sub.__anext__()
                assert event == ResourceUpdated(uri="demo://counter")
        after = int((await toucher.read_resource("demo://counter")).contents[0].text)
        assert after == before + 1
    (listen,) = exchanges_for(connect, mark, "subscriptions/listen")
    assert listen.content_type.startswith("text/event-stream")
    ack, update = listen.messages[:2]
    assert ack["method"] == "notifications/subscriptions/acknowledged"
    assert ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == listen.rpc_id
    assert ack["params"]["notifications"].get("resourceSubscriptions") == ["demo://counter"]
    assert update["method"] == "notifications/resources/updated"
    assert update["params"]["uri"] == "demo://counter"
    assert update["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == listen.rpc_id


async def test_listen_fans_out_to_every_listener(connect):
    async with connect() as a, connect() as b, connect() as toucher:
        with anyio.fail_after(10):
            async with a.listen(resource_subscriptions=["demo://counter"]) as sa:
                async with b.listen(resource_subscriptions=["demo://counter"]) as sb:
                    await toucher.call_tool("touch", {"uri": "demo://counter"})
                    assert await sa.__anext__() == ResourceUpdated(uri="demo://counter")
                    assert await sb.__anext__() == ResourceUpdated(uri="demo://counter")


async def test_listen_does_not_deliver_unsubscribed_uri(connect):
    mark = connect.wire.mark()
    async with connect() as listener, connect() as toucher:
        with anyio.fail_after(10):
            async with listener.listen(resource_subscriptions=["demo://counter"]) as sub:
                await toucher.call_tool("touch", {"uri": "demo://items/5"})  # not subscribed
                await toucher.call_tool("touch", {"uri": "demo://greeting"})  # not subscribed
                await toucher.call_tool("touch", {"uri": "demo://counter"})  # subscribed: the marker
                event = await sub.__anext__()
                assert event == ResourceUpdated(uri="demo://counter")
                await anyio.sleep(0.3)  # anything late would show up on the wire now
    (listen,) = exchanges_for(connect, mark, "subscriptions/listen")
    updated = [m["params"]["uri"] for m in listen.messages if m.get("method") == "notifications/resources/updated"]
    assert updated == ["demo://counter"], f"unsubscribed URIs were delivered: {updated}"


async def test_listen_ack_honors_every_requested_kind(connect):
    async with connect() as c:
        with anyio.fail_after(10):
            async with c.listen(
                tools_list_changed=True,
                prompts_list_changed=True,
                resources_list_changed=True,
                resource_subscriptions=["demo://greeting", "demo://counter"],
            ) as sub:
                h = sub.honored
                assert h.tools_list_changed is True
                assert h.prompts_list_changed is True
                assert h.resources_list_changed is True
                assert sorted(h.resource_subscriptions or []) == ["demo://counter", "demo://greeting"]


async def test_listen_ends_gracefully_when_server_shuts_down(connect, private_server):
    """SIGTERM drains the server: an open listen stream gets its final SubscriptionsListenResult
    (`{"resultType":"complete","_meta":{"io.modelcontextprotocol/subscriptionId":<listen id>}}`),
    so the client ends iteration cleanly instead of raising SubscriptionLost, and the process exits 0."""
    from conftest import stop_server
    from mcp.client.subscriptions import SubscriptionLost

    mark = connect.wire.mark()
    events, lost = [], []
    async with connect.to(private_server)() as c:
        with anyio.fail_after(20):
            async with c.listen(resource_subscriptions=["demo://counter"]) as sub:
                async with anyio.create_task_group() as tg:
                    # SIGTERM, then SIGKILL if the process has not exited after 5 s
                    tg.start_soon(anyio.to_thread.run_sync, stop_server, private_server)
                    try:
                        async for event in sub:
                            events.append(event)
                    except SubscriptionLost as exc:
                        lost.append(exc)
    (listen,) = exchanges_for(connect, mark, "subscriptions/listen")
    rc = private_server.proc.returncode
    assert not lost, (
        f"on SIGTERM the listen stream was not closed with a final result (messages on the stream: "
        f"{[m.get('method') or 'response' for m in listen.messages]}); the process "
        + ("had to be killed after 5 s" if rc == -9 else f"exited with {rc}")
    )
    assert events == []
    final = listen.messages[-1]
    assert final.get("id") == listen.rpc_id and "result" in final, listen.messages
    assert final["result"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == listen.rpc_id
    assert rc == 0, f"exit code {rc}"


def test_idle_server_exits_promptly_on_sigterm(private_server):
    """An idle server (no requests in flight, no listen streams) exits within 10 s of SIGTERM."""
    import signal
    import subprocess
    import time

    proc = private_server.proc
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
        tail = "\n".join(private_server.read_log().splitlines()[-4:])
        pytest.fail(f"server still running 10 s after SIGTERM while idle; last log lines:\n{tail}")
    assert proc.returncode == 0, f"exit code {proc.returncode} after {time.monotonic() - t0:.1f} s"


async def test_listen_stream_is_counted_and_released(connect):
    async with connect() as listener, connect() as observer:
        base = (await stats(observer))["openListenStreams"]
        with anyio.fail_after(15):
            async with listener.listen(resource_subscriptions=["demo://counter"]):
                s = await poll_stats(observer, lambda s: s["openListenStreams"] >= base + 1)
                assert s["openListenStreams"] == base + 1, s
            s = await poll_stats(observer, lambda s: s["openListenStreams"] <= base)
            assert s["openListenStreams"] == base, f"listen stream not released after the client left: {s}"


# --------------------------------------------------------------------------------------------------
# Cancellation
# --------------------------------------------------------------------------------------------------


async def test_cancel_in_flight_tool_call_cancels_server_handler(connect):
    async with connect() as worker, connect() as observer:
        before = await stats(observer)
        started = anyio.Event()

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            started.set()

        outcome = {}
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                with anyio.CancelScope() as scope:
                    outcome["scope"] = scope
                    await worker.call_tool("countdown", {"steps": 1000, "intervalMs": 20}, progress_callback=on_progress)
                    outcome["finished"] = True

            tg.start_soon(run)
            with anyio.fail_after(10):
                await started.wait()  # the handler is running on the server
            running = await stats(observer)
            assert running["activeHandlers"] >= before["activeHandlers"] + 1, running
            outcome["scope"].cancel()  # aborts the POST: the client closes the response stream
        assert "finished" not in outcome

        after = await poll_stats(observer, lambda s: s["cancelledHandlers"] > before["cancelledHandlers"])
        assert after["cancelledHandlers"] == before["cancelledHandlers"] + 1, (
            f"server did not cancel the handler after the client closed the stream: before={before} after={after}"
        )
        idle = await poll_stats(observer, lambda s: s["activeHandlers"] <= before["activeHandlers"])
        assert idle["activeHandlers"] == before["activeHandlers"], idle


async def test_read_timeout_aborts_and_cancels_server_handler(connect):
    async with connect() as observer:
        before = await stats(observer)
        async with connect(read_timeout_seconds=0.5) as worker:
            with pytest.raises(MCPError) as ei:
                await worker.call_tool("countdown", {"steps": 1000, "intervalMs": 20})
            assert ei.value.code == types.REQUEST_TIMEOUT
        after = await poll_stats(observer, lambda s: s["cancelledHandlers"] > before["cancelledHandlers"])
        assert after["cancelledHandlers"] == before["cancelledHandlers"] + 1, (before, after)


# --------------------------------------------------------------------------------------------------
# A few raw HTTP checks (the Swift side has its own raw suite)
# --------------------------------------------------------------------------------------------------


def _raw_headers(method: str, **extra: str) -> dict[str, str]:
    h = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": method,
    }
    h.update(extra)
    return h


def _raw_meta() -> dict:
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }


async def test_raw_healthz_and_method_not_found(connect):
    async with connect.http() as http:
        r = await http.get(connect.server.base_url + "/healthz")
        assert r.status_code == 200
        body = {"jsonrpc": "2.0", "id": 7, "method": "no/such/method", "params": {"_meta": _raw_meta()}}
        r = await http.post(connect.url, json=body, headers=_raw_headers("no/such/method"))
        msg = r.json()
        assert msg["id"] == 7
        assert msg["error"]["code"] == types.METHOD_NOT_FOUND


async def test_raw_tools_call_json_body(connect):
    async with connect.http() as http:
        body = {
            "jsonrpc": "2.0",
            "id": "raw-1",
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "raw"}, "_meta": _raw_meta()},
        }
        r = await http.post(connect.url, json=body, headers=_raw_headers("tools/call", **{"mcp-name": "echo"}))
        assert r.status_code == 200
        ctype = r.headers["content-type"]
        if ctype.startswith("application/json"):
            msg = r.json()
        else:
            assert ctype.startswith("text/event-stream")
            msg = json.loads([l[5:].strip() for l in r.text.splitlines() if l.startswith("data:")][-1])
        assert msg["id"] == "raw-1"
        assert msg["result"]["content"] == [{"type": "text", "text": "raw"}]
        assert msg["result"]["resultType"] == "complete"
        assert msg["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "mcp-demo-server"


async def test_raw_header_mismatch(connect):
    async with connect.http() as http:
        body = {
            "jsonrpc": "2.0",
            "id": 11,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "x"}, "_meta": _raw_meta()},
        }
        r = await http.post(connect.url, json=body, headers=_raw_headers("tools/list", **{"mcp-name": "echo"}))
        assert r.status_code == 400
        assert r.json()["error"]["code"] == -32020
        r = await http.post(connect.url, json=body, headers=_raw_headers("tools/call"))  # Mcp-Name missing
        assert r.status_code == 400
        assert r.json()["error"]["code"] == -32020
        r = await http.post(connect.url, json=body, headers=_raw_headers("tools/call", **{"mcp-name": "add"}))
        assert r.status_code == 400
        assert r.json()["error"]["code"] == -32020


async def test_raw_unsupported_protocol_version(connect):
    async with connect.http() as http:
        meta = dict(_raw_meta(), **{"io.modelcontextprotocol/protocolVersion": "2099-01-01"})
        body = {"jsonrpc": "2.0", "id": 12, "method": "tools/list", "params": {"_meta": meta}}
        r = await http.post(connect.url, json=body, headers=_raw_headers("tools/list", **{"mcp-protocol-version": "2099-01-01"}))
        assert r.status_code == 400
        err = r.json()["error"]
        assert err["code"] == -32022
        assert err["data"]["requested"] == "2099-01-01"
        assert MODERN in err["data"]["supported"]


async def test_raw_parse_error(connect):
    async with connect.http() as http:
        r = await http.post(connect.url, content=b'{"jsonrpc":"2.0","id":13,"method":', headers=_raw_headers("tools/list"))
        assert r.status_code == 400
        msg = r.json()
        assert msg["error"]["code"] == types.PARSE_ERROR
        assert msg.get("id") is None
