"""Legacy (session-based) Streamable HTTP, 2025-03-26 .. 2025-11-25, driven by hand with httpx2.

Sessions, the protocol version header, the standalone GET stream, resumption with Last-Event-ID,
server-to-client requests answered by POST, cancellation and DELETE, as the 2025-11-25 transport
spec (basic/transports.mdx) and the server's contract describe them. Everything the server sends goes
through the validating tee (`connect.http()`), so it is also checked against the schema of the
session's negotiated version.
"""

from __future__ import annotations

import json

import anyio
import pytest

from demo_contract import TOOLS
from legacy_http import (
    LATEST_LEGACY,
    RawSession,
    collect,
    data_frames,
    initialize,
    next_frame,
    next_message,
    poll_stats,
    read_stats,
)

pytestmark = pytest.mark.anyio

ELICIT = {"elicitation": {}}


def countdown_msg(s: RawSession, steps: int, interval_ms: int, token=None) -> dict:
    params = {"name": "countdown", "arguments": {"steps": steps, "intervalMs": interval_ms}}
    if token is not None:
        params["_meta"] = {"progressToken": token}
    return s.request_msg("tools/call", params)


def text_of(msg: dict) -> str:
    assert "result" in msg, msg
    return msg["result"]["content"][0]["text"]


def alter(sid: str) -> str:
    """The session id with one character changed."""
    i = len(sid) - 1
    return sid[:i] + ("A" if sid[i] != "A" else "B")


# --------------------------------------------------------------------------------------------------
# Handshake and version negotiation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "requested,expected",
    [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2024-11-05", LATEST_LEGACY),  # not supported (HTTP+SSE era): the server's latest legacy version
        ("2099-01-01", LATEST_LEGACY),
    ],
)
async def test_initialize_negotiates_version(connect, requested, expected):
    async with connect.http() as http:
        s = await initialize(http, connect.url, requested)
        assert s.version == expected
        assert all(0x21 <= ord(c) <= 0x7E for c in s.session_id) and len(s.session_id) >= 16, s.session_id
        r = s.init_result
        assert "resultType" not in r
        assert r["serverInfo"]["name"] == "mcp-demo-server"
        caps = r["capabilities"]
        assert caps["tools"] is not None and caps["prompts"] is not None and "logging" in caps
        assert caps["resources"]["subscribe"] is True
        m = await s.call("tools/list")
        assert {t["name"] for t in m["result"]["tools"]} == TOOLS
        other = await initialize(http, connect.url, requested)
        assert other.session_id != s.session_id


async def test_notifications_are_accepted_with_202(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url, initialized=False)
        for method in ("notifications/initialized", "notifications/roots/list_changed"):
            r = await s.notify(method)
            assert r.status_code == 202, (method, r.status_code, r.text)
            assert r.content == b""


# --------------------------------------------------------------------------------------------------
# Session id and protocol version header
# --------------------------------------------------------------------------------------------------


async def test_missing_session_id_is_400(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url)
        for kw in ({"session": None}, {"session": None, "protocol": None}):
            r = await s.post(s.request_msg("tools/list"), **kw)
            assert r.status_code == 400, (kw, r.status_code, r.text)
        # GET / DELETE without a session id: 400 (2025-11-25: "requests without an MCP-Session-Id") or
        # 405 (what 2026-07-28 prescribes for GET / DELETE, as the request names no session at all)
        async with s.get(session=None) as (r, frames):
            assert r.status_code in (400, 405), r.status_code
        r = await s.delete(session=None)
        assert r.status_code in (400, 405), r.status_code
        assert (await s.call("ping"))["result"] == {}  # the session itself is fine


async def test_forged_session_id_is_404(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url)
        sid = s.session_id
        forged = [alter(sid), sid[:8] + ("x" if sid[8] != "x" else "y") + sid[9:], sid + "A", sid[:-1], "s1.not-a-session-id"]
        for f in forged:
            r = await s.post(s.request_msg("tools/list"), session=f)
            assert r.status_code == 404, (f, r.status_code, r.text)
            async with s.get(session=f) as (g, _):
                assert g.status_code == 404, (f, "GET", g.status_code)
            d = await s.delete(session=f)
            assert d.status_code == 404, (f, "DELETE", d.status_code)
        # neither the forged requests nor the forged DELETEs touched the real session
        assert (await s.call("ping"))["result"] == {}


async def test_ids_of_other_sessions_are_not_interchangeable(connect):
    async with connect.http() as http:
        a = await initialize(http, connect.url)
        b = await initialize(http, connect.url)
        assert (await a.call("ping", session=b.session_id))["result"] == {}  # b's id is simply b
        r = await a.delete(session=b.session_id)
        assert r.status_code == 200
        r = await b.post(b.request_msg("tools/list"))
        assert r.status_code == 404
        assert (await a.call("ping"))["result"] == {}


async def test_missing_protocol_header_is_accepted_as_2025_03_26(connect):
    async with connect.http() as http:
        for version in ("2025-11-25", "2025-03-26"):
            s = await initialize(http, connect.url, version)
            m = await s.call("tools/list", protocol=None)
            assert {t["name"] for t in m["result"]["tools"]} == TOOLS
            m = await s.call("tools/call", {"name": "echo", "arguments": {"text": "no header"}}, protocol=None)
            assert text_of(m) == "no header"


@pytest.mark.parametrize("header", ["2099-01-01", "2024-11-05", "garbage", ""])
async def test_unsupported_protocol_header_is_400(connect, header):
    async with connect.http() as http:
        s = await initialize(http, connect.url)
        r = await s.post(s.request_msg("tools/list"), protocol=header)
        assert r.status_code == 400, (header, r.status_code, r.text)
        if r.headers.get("content-type", "").startswith("application/json"):
            assert "error" in r.json()


# --------------------------------------------------------------------------------------------------
# The standalone GET stream
# --------------------------------------------------------------------------------------------------


async def test_second_concurrent_get_is_409_and_released_after_close(connect):
    """At most one standalone stream per session; once the client has closed it (an idle stream: the
    server has nothing to write), the session can open it again, plainly or resuming it."""
    async with connect.http() as http:
        s = await initialize(http, connect.url)
        async with s.get() as (r, frames):
            assert r.status_code == 200
            first = await next_frame(frames)
            assert first.is_priming, first
            async with s.get() as (r2, _):
                assert r2.status_code == 409, r2.status_code
        # the first stream is gone: a new GET is admitted (allowing the server a moment to notice)
        statuses = []
        with anyio.move_on_after(3):
            while True:
                async with s.get() as (r3, frames3):
                    statuses.append(r3.status_code)
                    if r3.status_code == 200:
                        break
                await anyio.sleep(0.2)
        assert statuses and statuses[-1] == 200, (
            f"GET still refused 3 s after the client closed the only standalone stream: {statuses}"
        )


async def test_subscribe_touch_updates_on_standalone_stream(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url)
        toucher = await initialize(http, connect.url)
        assert (await s.call("resources/subscribe", {"uri": "demo://counter"}))["result"] == {}
        async with s.get() as (r, frames):
            assert r.status_code == 200
            assert (await next_frame(frames)).is_priming
            await toucher.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://greeting"}})  # not subscribed
            await toucher.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://counter"}})
            f = await next_message(frames, 5)
            assert f.message["method"] == "notifications/resources/updated", f.message
            assert f.message["params"]["uri"] == "demo://counter", f.message
            assert (await s.call("resources/unsubscribe", {"uri": "demo://counter"}))["result"] == {}
            await toucher.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://counter"}})
            late = []
            with anyio.move_on_after(0.5):
                late.append(await next_message(frames, 1))
            assert late == [], f"update delivered after unsubscribe: {late}"


async def test_standalone_stream_resumes_after_last_event_id(connect):
    # The standalone stream logs what it sends; a resume replays exactly what came after the given id on that
    # stream, then continues live. (Notifications published while no GET stream is connected are not queued.)
    async with connect.http() as http:
        s = await initialize(http, connect.url)
        toucher = await initialize(http, connect.url)
        await s.call("resources/subscribe", {"uri": "demo://counter"})
        async with s.get() as (r, frames):
            priming = await next_frame(frames)
            assert priming.is_priming
            await toucher.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://counter"}})
            first = await next_message(frames, 5)
            await toucher.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://counter"}})
            second = await next_message(frames, 5)
        async with s.get(last_event_id=priming.id) as (r, frames):
            assert r.status_code == 200, r.status_code
            assert (await next_frame(frames)).is_priming
            replayed = [await next_message(frames, 5) for _ in range(2)]
            assert [(f.id, f.message) for f in replayed] == [(first.id, first.message), (second.id, second.message)]
            await toucher.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://counter"}})
            live = await next_message(frames, 5)
        assert live.message["params"]["uri"] == "demo://counter"
        assert live.id not in {priming.id, first.id, second.id}
        async with s.get(last_event_id=first.id) as (r, frames):
            assert r.status_code == 200, r.status_code
            assert (await next_frame(frames)).is_priming
            after_first = [await next_message(frames, 5) for _ in range(2)]
        assert [f.id for f in after_first] == [second.id, live.id]


# --------------------------------------------------------------------------------------------------
# Resumability of a request's stream
# --------------------------------------------------------------------------------------------------


async def test_replay_after_arbitrary_event_id(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url)
        msg = countdown_msg(s, 4, 20, token="replay-1")
        async with s.stream(msg) as (r, frames):
            assert r.status_code == 200 and frames is not None, r.headers.get("content-type")
            original = await collect(frames)
        assert original[0].is_priming and original[0].retry is not None, original[0]
        events = data_frames(original)
        assert [e.message.get("method") for e in events] == ["notifications/progress"] * 4 + [None]
        assert events[-1].message["id"] == msg["id"]
        ids = [f.id for f in original]
        assert None not in ids and len(set(ids)) == len(ids), ids
        for k in (0, 1, 3, len(original) - 2):  # the priming id, a middle one, ..., the one before the response
            async with s.get(last_event_id=original[k].id) as (g, replay_frames):
                assert g.status_code == 200, (k, g.status_code)
                replay = data_frames(await collect(replay_frames, 5))
            want = data_frames(original[k + 1 :])
            assert [(f.id, f.message) for f in replay] == [(f.id, f.message) for f in want], f"replay after event #{k}"
        async with s.get(last_event_id=original[-1].id) as (g, replay_frames):  # after the final response
            if g.status_code == 200:
                assert data_frames(await collect(replay_frames, 5)) == []


async def test_disconnect_is_not_cancellation_and_resume_continues_live(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url)
        observer = await initialize(http, connect.url)
        before = await read_stats(observer)
        msg = countdown_msg(s, 6, 150, token=77)
        seen = []
        async with s.stream(msg) as (r, frames):
            while len(data_frames(seen)) < 2:
                seen.append(await next_frame(frames))
        # connection closed by the client after the second progress event; the handler keeps running
        last = seen[-1]
        assert last.message["params"]["progress"] == 2
        async with s.get(last_event_id=last.id) as (g, frames):
            assert g.status_code == 200, g.status_code
            rest = data_frames(await collect(frames, 10))
        assert [m.message.get("params", {}).get("progress") for m in rest[:-1]] == [3, 4, 5, 6]
        assert rest[-1].message["id"] == msg["id"] and text_of(rest[-1].message) == "done"
        after = await read_stats(observer)
        assert after["cancelledHandlers"] == before["cancelledHandlers"], (before, after)


async def test_last_event_id_of_another_session_is_refused(connect):
    async with connect.http() as http:
        a = await initialize(http, connect.url)
        b = await initialize(http, connect.url)
        async with a.stream(countdown_msg(a, 2, 10, token="a")) as (r, frames):
            a_frames = await collect(frames)
        for event_id in (a_frames[0].id, a_frames[1].id):
            async with b.get(last_event_id=event_id) as (g, frames):
                leaked = data_frames(await collect(frames, 3)) if frames is not None else []
                assert g.status_code in (400, 404), (event_id, g.status_code, [f.data for f in leaked])
                assert leaked == []
        async with b.get(last_event_id="not-an-event-id") as (g, frames):
            leaked = data_frames(await collect(frames, 3)) if frames is not None else []
            assert leaked == [] and g.status_code in (400, 404), (g.status_code, leaked)


# --------------------------------------------------------------------------------------------------
# Server-to-client requests answered by POST
# --------------------------------------------------------------------------------------------------


async def test_elicitation_answer_then_duplicate_answer_is_400(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url, capabilities=ELICIT)
        msg = s.request_msg("tools/call", {"name": "ask", "arguments": {"question": "Duplicate?"}})
        async with s.stream(msg) as (r, frames):
            assert frames is not None, r.headers.get("content-type")
            req = (await next_message(frames)).message
            assert req["method"] == "elicitation/create" and req["params"]["message"] == "Duplicate?"
            answer = {"action": "accept", "content": {"answer": "once"}}
            first = await s.respond(req["id"], answer)
            assert first.status_code == 202 and first.content == b"", (first.status_code, first.text)
            second = await s.respond(req["id"], answer)
            assert second.status_code == 400, (second.status_code, second.text)
            assert second.json()["error"]["code"] < 0
            final = (await next_message(frames)).message
        assert final["id"] == msg["id"] and text_of(final) == "answer: once"


async def test_response_for_unknown_id_is_400(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url, capabilities=ELICIT)
        for body in (
            {"jsonrpc": "2.0", "id": "no-such-request", "result": {}},
            {"jsonrpc": "2.0", "id": 424242, "error": {"code": -32603, "message": "x"}},
        ):
            r = await s.post(body)
            assert r.status_code == 400, (body, r.status_code, r.text)
            assert "error" in r.json()


async def test_answer_from_another_session_is_refused(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url, capabilities=ELICIT)
        intruder = await initialize(http, connect.url, capabilities=ELICIT)
        msg = s.request_msg("tools/call", {"name": "ask", "arguments": {"question": "Whose?"}})
        async with s.stream(msg) as (r, frames):
            req = (await next_message(frames)).message
            stolen = await intruder.respond(req["id"], {"action": "accept", "content": {"answer": "intruder"}})
            assert stolen.status_code in (400, 404), stolen.status_code
            ok = await s.respond(req["id"], {"action": "accept", "content": {"answer": "owner"}})
            assert ok.status_code == 202
            final = (await next_message(frames)).message
        assert text_of(final) == "answer: owner"


async def ask_expecting_refusal(s: RawSession, why: str) -> dict:
    """Calls `ask` where the server must not elicit: the first message must be the (error) response.
    A server request instead fails the test at once (after declining it, so the handler ends)."""
    msg = s.request_msg("tools/call", {"name": "ask", "arguments": {"question": "Can you?"}})
    async with s.stream(msg) as (r, frames):
        if frames is None:
            return json.loads(await r.aread())
        first = (await next_message(frames)).message
        if "method" in first and "id" in first:
            await s.respond(first["id"], {"action": "decline"})
            pytest.fail(f"the server sent {first['method']} to {why}: {json.dumps(first)}")
        return first


async def test_ask_without_elicitation_capability_does_not_elicit(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url, capabilities={})
        m = await ask_expecting_refusal(s, "a client without the elicitation capability")
        assert "error" in m or m["result"].get("isError") is True, m


async def test_ask_on_2025_03_26_session_does_not_elicit(connect):
    """Elicitation does not exist at 2025-03-26, whatever capabilities the client claims."""
    async with connect.http() as http:
        s = await initialize(http, connect.url, "2025-03-26", capabilities=ELICIT)
        m = await ask_expecting_refusal(s, "a 2025-03-26 session (elicitation/create is not in that protocol)")
        assert "error" in m or m["result"].get("isError") is True, m


async def test_unanswered_server_request_times_out(connect, timeout_server):
    conn = connect.to(timeout_server)
    async with conn.http() as http:
        s = await initialize(http, conn.url, capabilities=ELICIT)
        msg = s.request_msg("tools/call", {"name": "ask", "arguments": {"question": "Anyone?"}})
        async with s.stream(msg) as (r, frames):
            req = (await next_message(frames)).message
            assert req["method"] == "elicitation/create"
            with anyio.fail_after(8):
                final = (await next_message(frames, 8)).message
        assert final["id"] == msg["id"]
        assert final["result"]["isError"] is True, final
        text = text_of(final)  # e.g. "... did not answer elicitation/create within 0.8 seconds"
        assert "elicitation/create" in text and ("within" in text or "time" in text.lower()), text
        late = await s.respond(req["id"], {"action": "accept", "content": {"answer": "too late"}})
        assert late.status_code == 400, late.status_code


# --------------------------------------------------------------------------------------------------
# Cancellation, logging, DELETE
# --------------------------------------------------------------------------------------------------


async def test_cancelled_notification_cancels_handler(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url)
        observer = await initialize(http, connect.url)
        before = await read_stats(observer)
        msg = countdown_msg(s, 500, 20, token="cancel-me")
        async with s.stream(msg) as (r, frames):
            first = await next_message(frames)
            assert first.message["method"] == "notifications/progress"
            n = await s.notify("notifications/cancelled", {"requestId": msg["id"], "reason": "interop test"})
            assert n.status_code == 202, (n.status_code, n.text)
            rest = await collect(frames, 5)  # the stream ends, without a response
        responses = [f.message for f in data_frames(rest) if "id" in f.message and "method" not in f.message]
        assert responses == [], f"a response followed the cancellation: {responses}"
        after = await poll_stats(observer, lambda st: st["cancelledHandlers"] > before["cancelledHandlers"])
        assert after["cancelledHandlers"] == before["cancelledHandlers"] + 1, (before, after)
        idle = await poll_stats(observer, lambda st: st["activeHandlers"] <= before["activeHandlers"])
        assert idle["activeHandlers"] == before["activeHandlers"], idle


async def test_log_messages_only_after_set_level(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url)

        async def countdown_logs() -> list[dict]:
            async with s.stream(countdown_msg(s, 2, 5)) as (r, frames):
                if frames is None:
                    msgs = [json.loads(await r.aread())]
                else:
                    msgs = [f.message for f in data_frames(await collect(frames))]
            assert text_of(msgs[-1]) == "done"
            return [m for m in msgs if m.get("method") == "notifications/message"]

        assert await countdown_logs() == []  # no logging/setLevel yet
        assert (await s.call("logging/setLevel", {"level": "warning"}))["result"] == {}
        assert await countdown_logs() == []  # the countdown logs at info
        await s.call("logging/setLevel", {"level": "debug"})
        logs = await countdown_logs()
        assert [m["params"]["level"] for m in logs] == ["info", "info"], logs
        assert all(isinstance(m["params"]["data"], str) for m in logs)


async def test_delete_ends_session_streams_and_handlers(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url, capabilities=ELICIT)
        observer = await initialize(http, connect.url)
        before = await read_stats(observer)
        outcome: dict = {}

        async def run_countdown() -> None:
            async with s.stream(countdown_msg(s, 1000, 20, token="doomed")) as (r, frames):
                outcome["first"] = await next_message(frames)
                outcome["rest"] = await collect(frames, 10)

        async def hold_get() -> None:
            async with s.get() as (r, frames):
                outcome["get_status"] = r.status_code
                outcome["get"] = await collect(frames, 10)

        async with anyio.create_task_group() as tg:
            tg.start_soon(run_countdown)
            tg.start_soon(hold_get)
            with anyio.fail_after(10):
                while "first" not in outcome or "get_status" not in outcome:
                    await anyio.sleep(0.02)
            await anyio.sleep(0.1)
            d = await s.delete()
            assert d.status_code == 200, (d.status_code, d.text)
        # both streams ended (collect returned within its 10 s), the countdown without a response
        assert outcome["get_status"] == 200
        assert [f.message for f in data_frames(outcome["rest"]) if "result" in f.message] == []
        idle = await poll_stats(observer, lambda st: st["activeHandlers"] <= before["activeHandlers"])
        assert idle["activeHandlers"] == before["activeHandlers"], (before, idle)
        r = await s.post(s.request_msg("tools/list"))
        assert r.status_code == 404
        async with s.get() as (g, _):
            assert g.status_code == 404
        assert (await s.respond("whatever", {})).status_code == 404
        assert (await s.notify("notifications/roots/list_changed")).status_code == 404
        assert (await s.delete()).status_code == 404


async def test_ping_and_completion_and_prompt(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url, "2025-06-18")
        assert (await s.call("ping"))["result"] == {}
        m = await s.call("completion/complete", {"ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"name": "name", "value": "a"}})
        assert m["result"]["completion"]["values"] == ["Ada", "Alan"]
        m = await s.call("prompts/get", {"name": "greet", "arguments": {"name": "Ken"}})
        assert m["result"]["messages"][0]["content"]["text"] == "Please greet Ken warmly."
        m = await s.call("resources/templates/list")
        assert [t["uriTemplate"] for t in m["result"]["resourceTemplates"]] == ["demo://items/{id}"]
        m = await s.call("no/such/method")
        assert m["error"]["code"] == -32601


# --------------------------------------------------------------------------------------------------
# JSON-RPC batches: 2025-03-26 only ("MUST support receiving JSON-RPC batches"; removed in 2025-06-18)
# --------------------------------------------------------------------------------------------------


async def test_batch_on_2025_03_26_session(connect):
    async with connect.http() as http:
        s = await initialize(http, connect.url, "2025-03-26")
        ping, echo = s.request_msg("ping"), s.request_msg("tools/call", {"name": "echo", "arguments": {"text": "batched"}})
        batch = [ping, echo, {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}]
        async with s.stream(batch) as (r, frames):
            assert r.status_code == 200, (r.status_code, (await r.aread())[:300])
            if frames is None:
                body = json.loads(await r.aread())
                responses = body if isinstance(body, list) else [body]
            else:
                responses = []
                for f in data_frames(await collect(frames)):
                    m = f.message
                    responses.extend(m if isinstance(m, list) else [m])
        by_id = {m["id"]: m for m in responses if isinstance(m, dict) and "id" in m and "method" not in m}
        assert set(by_id) == {ping["id"], echo["id"]}, responses
        assert by_id[ping["id"]]["result"] == {}
        assert text_of(by_id[echo["id"]]) == "batched"
        r = await s.post([{"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}])
        assert r.status_code == 202, (r.status_code, r.text)


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
async def test_batch_rejected_after_2025_03_26(connect, version):
    async with connect.http() as http:
        s = await initialize(http, connect.url, version)
        r = await s.post([s.request_msg("ping"), s.request_msg("ping")])
        assert r.status_code == 400, (r.status_code, r.text)
        assert r.json()["error"]["code"] == -32600
