"""Legacy sessions (2025-03-26 .. 2025-11-25) across replicas, driven by hand and pinned replica by replica.

A session made on one replica is served by every other; its streams, server-to-client requests,
cancellations, log level, subscriptions and its end travel between replicas through the shared backend only.
Everything the servers send goes through the validating tee (`connect.http()`) and is checked against the
schema of the session's negotiated version. `cluster.a`, `.b`, `.c` are three different replicas, each
reached on its own port (not through nginx).
"""

from __future__ import annotations

import json
import time

import anyio
import pytest

from cluster_helpers import (
    ALL_CLIENT_CAPS,
    ELICIT,
    countdown_msg,
    dump,
    pin,
    poll_stats_at,
    progress_values,
    stats_at,
    text_of,
)
from legacy_http import collect, data_frames, initialize, next_frame, next_message
from demo_contract import TOOLS

pytestmark = pytest.mark.anyio



def event_position(event_id: str) -> int:
    """An event id is `<streamKey>.<position>` (docs/legacy.md)."""
    return int(event_id.rsplit(".", 1)[1])


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18", "2025-11-25"])
async def test_session_made_on_a_is_served_by_b_and_c(cluster, connect, version):
    async with connect.http() as http:
        s = await initialize(http, cluster.a.url, version)  # initialize + notifications/initialized on A
        assert s.version == version
        for replica in (cluster.b, cluster.c, cluster.a, cluster.c, cluster.b):
            v = pin(s, replica)
            assert (await v.call("ping"))["result"] == {}
            m = await v.call("tools/list")
            assert {t["name"] for t in m["result"]["tools"]} == TOOLS, dump(m)
            m = await v.call("tools/call", {"name": "echo", "arguments": {"text": f"via {replica.name}"}})
            assert text_of(m) == f"via {replica.name}"
            m = await v.call("tools/call", {"name": "add", "arguments": {"a": 20, "b": 22}})
            assert m["result"]["structuredContent"] == {"sum": 42}, dump(m)
            m = await v.call("prompts/get", {"name": "greet", "arguments": {"name": "Ada"}})
            assert m["result"]["messages"][0]["content"]["text"] == "Please greet Ada warmly.", dump(m)
            assert (await stats_at(s, replica))["replicaId"] == replica.name


@pytest.mark.parametrize(
    "subscribe_on,get_on,touch_on",
    [(0, 1, 2), (0, 2, 1)],
    ids=["GET-on-B-touch-on-C", "subscribe-on-A-touch-on-B-GET-on-C"],
)
async def test_standalone_get_stream_carries_touch_raised_on_another_replica(cluster, connect, subscribe_on, get_on, touch_on):
    sub_r, get_r, touch_r = cluster.replica(subscribe_on), cluster.replica(get_on), cluster.replica(touch_on)
    async with connect.http() as http:
        s = await initialize(http, cluster.a.url)
        other = await initialize(http, cluster.a.url)  # another session raises the changes
        assert (await pin(s, sub_r).call("resources/subscribe", {"uri": "demo://counter"}))["result"] == {}
        async with pin(s, get_r).get() as (r, frames):
            assert r.status_code == 200, r.status_code
            assert (await next_frame(frames)).is_priming
            touch = pin(other, touch_r)
            await touch.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://greeting"}})  # not subscribed
            await touch.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://counter"}})
            f = await next_message(frames, 5)
            assert f.message["method"] == "notifications/resources/updated", f.message
            assert f.message["params"]["uri"] == "demo://counter", f.message
            # a change raised by the session itself, on yet another replica
            await pin(s, sub_r).call("tools/call", {"name": "touch", "arguments": {"uri": "demo://counter"}})
            f2 = await next_message(frames, 5)
            assert f2.message["params"]["uri"] == "demo://counter" and f2.id != f.id
            # unsubscribed on the touching replica: nothing more arrives on the GET stream
            assert (await pin(s, touch_r).call("resources/unsubscribe", {"uri": "demo://counter"}))["result"] == {}
            await touch.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://counter"}})
            late = []
            with anyio.move_on_after(0.6):
                late.append(await next_message(frames, 1))
            assert late == [], f"update delivered after resources/unsubscribe: {[x.message for x in late]}"


async def test_stream_begun_on_a_resumes_on_b_then_on_c(cluster, connect):
    """A countdown runs on A; the client reads two events there, drops the connection, resumes with
    Last-Event-ID on B (the events logged meanwhile are replayed, then B follows the events A still produces),
    drops again, and resumes on C until the final response. Every event arrives exactly once, in order."""
    a, b, c = cluster.a, cluster.b, cluster.c
    steps, interval = 10, 200
    async with connect.http() as http:
        s = await initialize(http, a.url)
        observer = await initialize(http, a.url)
        before = await stats_at(observer, a)
        msg = countdown_msg(s, steps, interval, token="hop-a-b-c")
        on_a: list = []
        async with pin(s, a).stream(msg) as (r, frames):
            assert r.status_code == 200 and frames is not None, r.headers.get("content-type")
            while len(data_frames(on_a)) < 2:
                on_a.append(await next_frame(frames))
        assert on_a[0].is_priming and on_a[0].retry is not None, on_a[0]
        await anyio.sleep(2.2 * interval / 1000)  # two more steps are logged while nobody listens

        on_b: list = []
        t_get = time.monotonic()
        arrivals: list[float] = []
        async with pin(s, b).get(last_event_id=on_a[-1].id) as (g, frames):
            assert g.status_code == 200, g.status_code
            while len(data_frames(on_b)) < 5:  # 2 replayed from the log, then 3 live ones
                f = await next_frame(frames)
                on_b.append(f)
                if f.data:
                    arrivals.append(time.monotonic() - t_get)
        on_c: list = []
        async with pin(s, c).get(last_event_id=on_b[-1].id) as (g, frames):
            assert g.status_code == 200, g.status_code
            on_c = await collect(frames, 10)
        after = await stats_at(observer, a)
    assert after["cancelledHandlers"] == before["cancelledHandlers"], ("a dropped connection cancelled the handler", before, after)

    events = data_frames(on_a) + data_frames(on_b) + data_frames(on_c)
    assert progress_values(events) == list(range(1, steps + 1)), [e.message for e in events]
    final = events[-1].message
    assert final.get("id") == msg["id"] and text_of(final) == "done", final
    assert len(events) == steps + 1, [e.message for e in events]
    ids = [e.id for e in events]
    assert len(set(ids)) == len(ids), f"an event arrived twice: {ids}"
    positions = [event_position(i) for i in ids]
    assert positions == sorted(positions), f"events out of order: {ids}"
    assert len({i.rsplit('.', 1)[0] for i in ids}) == 1, f"events of more than one stream: {ids}"
    # B replayed what was logged while the client was away, then followed A's live events
    assert arrivals[0] < 0.5 * interval / 1000 + 0.15, f"the replay did not come at once: {arrivals}"
    assert arrivals[-1] > 1.5 * interval / 1000, f"B did not wait for live events from A: {arrivals}"


@pytest.mark.parametrize(
    "tool,arguments,method,answer,expected",
    [
        ("ask", {"question": "Across replicas?"}, "elicitation/create",
         {"action": "accept", "content": {"answer": "from B"}}, "answer: from B"),
        ("summarize", {"text": "The quick brown fox."}, "sampling/createMessage",
         {"role": "assistant", "content": {"type": "text", "text": "Short, from B."}, "model": "cluster-model", "stopReason": "endTurn"},
         "Short, from B."),
        ("list-roots", {}, "roots/list",
         {"roots": [{"uri": "file:///tmp/project-a", "name": "a"}, {"uri": "file:///srv/b"}]},
         "file:///tmp/project-a\nfile:///srv/b"),
    ],
    ids=["ask", "summarize", "list-roots"],
)
async def test_server_request_from_a_answered_by_post_on_b(cluster, connect, tool, arguments, method, answer, expected):
    a, b, c = cluster.a, cluster.b, cluster.c
    async with connect.http() as http:
        s = await initialize(http, a.url, capabilities=ALL_CLIENT_CAPS)
        msg = s.request_msg("tools/call", {"name": tool, "arguments": arguments})
        async with pin(s, a).stream(msg) as (r, frames):
            assert frames is not None, r.headers.get("content-type")
            req = (await next_message(frames)).message
            assert req.get("method") == method, req
            assert isinstance(req.get("id"), str) and req["id"].split(".")[:2] == ["s2c", a.name], (
                f"the server-to-client request id does not name replica {a.name}: {req.get('id')!r}"
            )
            ok = await pin(s, b).respond(req["id"], answer)
            assert ok.status_code == 202 and ok.content == b"", (ok.status_code, ok.text)
            duplicate = await pin(s, c).respond(req["id"], answer)
            assert duplicate.status_code == 400, ("a second answer, on C, was accepted", duplicate.status_code, duplicate.text)
            final = (await next_message(frames)).message
        assert final.get("id") == msg["id"], final
        assert final["result"].get("isError") is not True, final
        assert text_of(final) == expected


async def test_cancelled_on_c_cancels_handler_on_a(cluster, connect):
    a, c = cluster.a, cluster.c
    async with connect.http() as http:
        s = await initialize(http, a.url)
        observer = await initialize(http, a.url)
        before = await stats_at(observer, a)
        msg = countdown_msg(s, 500, 20, token="cancel-across")
        async with pin(s, a).stream(msg) as (r, frames):
            first = await next_message(frames)
            assert first.message["method"] == "notifications/progress", first.message
            running = await stats_at(observer, a)
            assert running["activeHandlers"] >= before["activeHandlers"] + 1, (before, running)
            n = await pin(s, c).notify("notifications/cancelled", {"requestId": msg["id"], "reason": "cluster test"})
            assert n.status_code == 202, (n.status_code, n.text)
            rest = await collect(frames, 5)  # A ends the stream, without a response
        responses = [f.message for f in data_frames(rest) if "id" in f.message and "method" not in f.message]
        assert responses == [], f"a response followed the cancellation: {responses}"
        after = await poll_stats_at(observer, a, lambda st: st["cancelledHandlers"] > before["cancelledHandlers"])
        assert after["cancelledHandlers"] == before["cancelledHandlers"] + 1, (before, after)
        idle = await poll_stats_at(observer, a, lambda st: st["activeHandlers"] <= before["activeHandlers"])
        assert idle["activeHandlers"] == before["activeHandlers"], idle


async def test_set_level_on_b_applies_to_handler_running_on_a(cluster, connect):
    a, b, c = cluster.a, cluster.b, cluster.c
    async with connect.http() as http:
        s = await initialize(http, a.url)
        msg = countdown_msg(s, 12, 150, token="levels")
        async with pin(s, a).stream(msg) as (r, frames):
            first = await next_message(frames)
            assert first.message["method"] == "notifications/progress", first.message  # no log: no level set yet
            assert (await pin(s, b).call("logging/setLevel", {"level": "info"}))["result"] == {}
            logs = []
            while len(logs) < 2:
                f = await next_message(frames)
                if f.message.get("method") == "notifications/message":
                    logs.append(f.message)
            assert [m["params"]["level"] for m in logs] == ["info", "info"], logs
            # right after a log message (the next one is a whole step away): raise the level on C
            assert (await pin(s, c).call("logging/setLevel", {"level": "error"}))["result"] == {}
            rest = data_frames(await collect(frames, 10))
        late_logs = [f.message for f in rest if f.message.get("method") == "notifications/message"]
        assert late_logs == [], f"info logs after logging/setLevel error on another replica: {late_logs}"
        assert rest[-1].message.get("id") == msg["id"] and text_of(rest[-1].message) == "done"
        assert len(progress_values(rest)) >= 5, [f.message for f in rest]


async def test_delete_on_c_ends_session_streams_and_handlers_everywhere(cluster, connect):
    """A countdown runs on A, an `ask` waits for its answer on B, the standalone GET stream is held on B; a
    DELETE sent to C ends all three, cancels both handlers, and the session is gone on every replica."""
    a, b, c = cluster.a, cluster.b, cluster.c
    async with connect.http() as http:
        s = await initialize(http, a.url, capabilities=ELICIT)
        observer = await initialize(http, a.url)
        before = {r.name: await stats_at(observer, r) for r in (a, b)}
        out: dict = {}

        async def countdown_on_a() -> None:
            async with pin(s, a).stream(countdown_msg(s, 1000, 20, token="doomed")) as (r, frames):
                out["countdown_first"] = await next_message(frames)
                out["countdown_rest"] = await collect(frames, 10)

        async def ask_on_b() -> None:
            msg = s.request_msg("tools/call", {"name": "ask", "arguments": {"question": "Never answered?"}})
            async with pin(s, b).stream(msg) as (r, frames):
                out["ask_request"] = await next_message(frames)
                out["ask_rest"] = await collect(frames, 10)

        async def get_on_b() -> None:
            async with pin(s, b).get() as (r, frames):
                out["get_status"] = r.status_code
                out["get_priming"] = await next_frame(frames)
                out["get_rest"] = await collect(frames, 10)

        async with anyio.create_task_group() as tg:
            tg.start_soon(countdown_on_a)
            tg.start_soon(ask_on_b)
            tg.start_soon(get_on_b)
            with anyio.fail_after(10):
                while not {"countdown_first", "ask_request", "get_priming"} <= out.keys():
                    await anyio.sleep(0.02)
            assert out["ask_request"].message["method"] == "elicitation/create"
            running = {r.name: await stats_at(observer, r) for r in (a, b)}
            assert running[a.name]["activeHandlers"] >= before[a.name]["activeHandlers"] + 1, running
            assert running[b.name]["activeHandlers"] >= before[b.name]["activeHandlers"] + 1, running
            d = await pin(s, c).delete()
            assert d.status_code == 200, (d.status_code, d.text)
        # every stream ended (each collect returned within its 10 s), neither handler with a response
        assert out["get_status"] == 200
        for key in ("countdown_rest", "ask_rest"):
            finals = [f.message for f in data_frames(out[key]) if "result" in f.message]
            assert finals == [], f"{key}: a result after DELETE: {finals}"
        cancelled = {a.name: 0, b.name: 0}
        for r in (a, b):  # one handler on each (both on one, with fewer than three replicas)
            cancelled[r.name] += 1
        for r in {a.name: a, b.name: b}.values():
            want = before[r.name]["cancelledHandlers"] + cancelled[r.name]
            after = await poll_stats_at(
                observer, r,
                lambda st, r=r, want=want: st["activeHandlers"] <= before[r.name]["activeHandlers"] and st["cancelledHandlers"] >= want,
            )
            assert after["activeHandlers"] == before[r.name]["activeHandlers"], (r, before[r.name], after)
            assert after["cancelledHandlers"] == want, (r, before[r.name], after)
        for r in cluster.replicas:
            v = pin(s, r)
            resp = await v.post(v.request_msg("tools/list"))
            assert resp.status_code == 404, (r, "POST", resp.status_code)
            async with v.get() as (g, _):
                assert g.status_code == 404, (r, "GET", g.status_code)
            assert (await v.delete()).status_code == 404, (r, "DELETE")


async def test_silent_handler_past_streaming_threshold_gets_its_response(cluster, connect):
    """A handler that sends nothing for longer than the streaming threshold (1 s) is switched to SSE; its stream
    must still carry the final response, on A and when resumed from the priming event on B."""
    a, b = cluster.a, cluster.b
    async with connect.http() as http:
        s = await initialize(http, a.url)
        msg = s.request_msg("tools/call", {"name": "countdown", "arguments": {"steps": 1, "intervalMs": 1500}})
        async with pin(s, a).stream(msg) as (r, frames):
            if frames is None:  # answered as JSON: fine too
                final, priming = json.loads(await r.aread()), None
            else:
                got = await collect(frames, 10)
                priming = got[0] if got and got[0].is_priming else None
                finals = [f.message for f in data_frames(got) if "id" in f.message and "method" not in f.message]
                assert finals, (
                    f"the SSE stream of a handler silent for 1.5 s ended after {[f.id for f in got]} without the final "
                    f"response (request {dump(msg)})"
                )
                final = finals[-1]
        assert final["id"] == msg["id"] and text_of(final) == "done", final
        if priming is not None:
            async with pin(s, b).get(last_event_id=priming.id) as (g, frames):
                assert g.status_code == 200, g.status_code
                replay = [f.message for f in data_frames(await collect(frames, 5))]
            assert replay == [final], replay


async def test_get_stream_lock_and_resume_across_replicas(cluster, connect):
    """One standalone GET stream per session across the cluster: a second GET on B while A holds it gets 409; once
    the client drops A's, the stream resumes on C with Last-Event-ID, replaying what A sent and then going on."""
    a, b, c = cluster.a, cluster.b, cluster.c
    async with connect.http() as http:
        s = await initialize(http, a.url)
        other = await initialize(http, a.url)
        await pin(s, a).call("resources/subscribe", {"uri": "demo://counter"})
        touch = {"name": "touch", "arguments": {"uri": "demo://counter"}}
        async with pin(s, a).get() as (r, frames):
            assert r.status_code == 200
            priming = await next_frame(frames)
            assert priming.is_priming
            async with pin(s, b).get() as (r2, _):
                assert r2.status_code == 409, ("a second GET stream of the session was admitted by another replica", r2.status_code)
            await pin(other, b).call("tools/call", touch)
            first = await next_message(frames, 5)
            await pin(other, c).call("tools/call", touch)
            second = await next_message(frames, 5)
        statuses = []
        with anyio.fail_after(10):
            while True:
                async with pin(s, c).get(last_event_id=priming.id) as (g, frames):
                    statuses.append(g.status_code)
                    if g.status_code == 200:
                        assert (await next_frame(frames)).is_priming
                        replayed = [await next_message(frames, 5) for _ in range(2)]
                        await pin(other, b).call("tools/call", touch)
                        live = await next_message(frames, 5)
                        break
                await anyio.sleep(0.1)
        assert statuses[-1] == 200, statuses
        assert [(f.id, f.message) for f in replayed] == [(first.id, first.message), (second.id, second.message)]
        assert live.message["params"]["uri"] == "demo://counter" and live.id not in {priming.id, first.id, second.id}


async def test_concurrent_subscribes_on_three_replicas_lose_no_write(cluster, connect):
    """`resources/subscribe` updates the session with compare-and-set: nine subscriptions sent at once through
    three replicas are all kept."""
    uris = [f"demo://items/{k}" for k in range(1, 10)]
    async with connect.http() as http:
        s = await initialize(http, cluster.a.url)
        other = await initialize(http, cluster.a.url)
        results: dict[str, dict] = {}

        async def subscribe(k: int, uri: str) -> None:
            results[uri] = await pin(s, cluster.replica(k)).call("resources/subscribe", {"uri": uri})

        async with anyio.create_task_group() as tg:
            for k, uri in enumerate(uris):
                tg.start_soon(subscribe, k, uri)
        assert all(m.get("result") == {} for m in results.values()), results
        async with pin(s, cluster.b).get() as (r, frames):
            assert (await next_frame(frames)).is_priming
            for k, uri in enumerate(uris):
                await pin(other, cluster.replica(k + 2)).call("tools/call", {"name": "touch", "arguments": {"uri": uri}})
            got = [(await next_message(frames, 5)).message["params"]["uri"] for _ in uris]
        assert sorted(got) == sorted(uris), f"subscriptions lost by concurrent updates: {sorted(set(uris) - set(got))}"


async def test_concurrent_answers_on_two_replicas_only_one_accepted(cluster, connect):
    a, b, c = cluster.a, cluster.b, cluster.c
    async with connect.http() as http:
        s = await initialize(http, a.url, capabilities=ELICIT)
        msg = s.request_msg("tools/call", {"name": "ask", "arguments": {"question": "Who answers first?"}})
        async with pin(s, a).stream(msg) as (r, frames):
            assert frames is not None, r.headers.get("content-type")
            req = (await next_message(frames)).message
            assert req["method"] == "elicitation/create", req
            statuses: dict[str, int] = {}

            async def answer(replica) -> None:
                resp = await pin(s, replica).respond(req["id"], {"action": "accept", "content": {"answer": replica.name}})
                statuses[replica.name] = resp.status_code

            async with anyio.create_task_group() as tg:
                tg.start_soon(answer, b)
                tg.start_soon(answer, c)
            final = (await next_message(frames)).message
        assert sorted(statuses.values()) == [202, 400], statuses
        (winner,) = [name for name, st in statuses.items() if st == 202]
        assert text_of(final) == f"answer: {winner}", (statuses, final)


async def test_concurrent_touches_on_three_replicas_count_every_one(cluster, connect):
    """The demo counter is kept in the shared store with compare-and-set: 30 touches at once through three
    replicas add exactly 30."""
    async with connect.http() as http:
        s = await initialize(http, cluster.a.url)
        read = lambda: pin(s, cluster.c).call("resources/read", {"uri": "demo://counter"})  # noqa: E731
        before = int((await read())["result"]["contents"][0]["text"])

        async def touch(k: int) -> None:
            m = await pin(s, cluster.replica(k)).call("tools/call", {"name": "touch", "arguments": {"uri": "demo://counter"}})
            assert text_of(m) == "touched demo://counter", m

        async with anyio.create_task_group() as tg:
            for k in range(30):
                tg.start_soon(touch, k)
        after = int((await read())["result"]["contents"][0]["text"])
        assert after == before + 30, (before, after)


async def test_foreign_and_forged_ids_refused_by_every_replica(cluster, connect):
    async with connect.http() as http:
        s = await initialize(http, cluster.a.url)
        other = await initialize(http, cluster.b.url)
        async with pin(s, cluster.a).stream(countdown_msg(s, 2, 10, token="mine")) as (r, frames):
            mine = await collect(frames)
        forged = s.session_id[:-1] + ("A" if s.session_id[-1] != "A" else "B")
        for r in cluster.replicas:
            resp = await pin(s, r).post(s.request_msg("ping"), session=forged)
            assert resp.status_code == 404, (r, "forged session id", resp.status_code)
            async with pin(other, r).get(last_event_id=mine[1].id) as (g, frames):
                leaked = data_frames(await collect(frames, 3)) if frames is not None else []
                assert g.status_code in (400, 404) and leaked == [], (r, "another session's event id", g.status_code, leaked)
