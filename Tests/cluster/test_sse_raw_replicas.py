"""The 2024-11-05 HTTP+SSE transport across replicas, raw HTTP (httpx2) pinned replica by replica.

A session's stream is held by the replica its `GET /sse` reached; its POSTs may land on any replica, which answers
`202` and puts the answer on the stream wherever it is. Bad input sent to any replica is refused there, with a
JSON-RPC error body, and disturbs no session whose stream another replica holds. Everything the replicas send
goes through the interop suite's tee into `HttpSseWire` (Tests/interop/test_http_sse_raw.py), which validates
every message against the schema of the session's negotiated version.
"""

from __future__ import annotations

import json

import anyio
import httpx2
import pytest

import cluster_ctl
from test_http_sse_raw import (  # Tests/interop (on sys.path through conftest.py)
    EVIL_ORIGIN,
    GONE_WORDS,
    bad_posts,
    check_bad_inputs,
    echo,
    mint_session_id,
    open_sse,
    refusal_problems,
    sse_session,
    text_of,
    wait_gone,
)

pytestmark = pytest.mark.anyio

ALL_CAPS = {"elicitation": {}, "sampling": {}, "roots": {"listChanged": True}}


def stats_of(msg: dict) -> dict:
    return json.loads(msg["result"]["contents"][0]["text"])


async def test_sse_bad_inputs_on_every_replica_leave_the_victim_intact(cluster, sse):
    """Each replica in turn gets every bad POST; the victim's stream is held by another replica (and its session
    was initialized on a third). No bad POST reaches the victim's stream, and the victim still works."""
    reps = cluster.replicas
    n = len(reps)
    key = cluster.keys(reps[0])[0]
    problems: list[str] = []
    leaks: list[str] = []
    async with sse.http() as http:
        for k, target in enumerate(reps):
            holder, third = reps[(k + 1) % n], reps[(k + 2) % n]
            async with sse_session(http, third) as gone:
                closed = gone.sid
            async with sse_session(http, holder, post_to=third) as victim:
                statuses = await wait_gone(victim, target, session=closed)
                if statuses[-1:] != [404]:
                    problems.append(f"{target.name}: the session of a stream closed on {third.name} still took POSTs: {statuses}")
                mark = len(victim.stream.messages)
                bads = bad_posts(victim.sid, closed=closed, expired=mint_session_id(key))
                problems += await check_bad_inputs(victim, target, bads, where=f"{target.name} (stream on {holder.name}): ")
                await anyio.sleep(0.2)
                if victim.stream.messages[mark:]:
                    leaks.append(f"{target.name}: {json.dumps(victim.stream.messages[mark:])[:1500]}")
                m = await victim.call("tools/call", echo(f"still here after {target.name}"), via=target)
                assert text_of(m) == f"still here after {target.name}"
    assert not problems, "bad input not refused as the contract says:\n  " + "\n  ".join(problems)
    assert not leaks, "bad input reached the victim's stream:\n  " + "\n  ".join(leaks)


async def test_sse_posts_on_each_replica_answered_on_the_stream_held_elsewhere(cluster, sse):
    reps = cluster.replicas
    n = len(reps)
    holder = reps[0]
    async with sse.http() as http:
        async with sse_session(http, holder, post_to=reps[1 % n], capabilities=ALL_CAPS) as c:
            for k, r in enumerate(reps):
                # the handler runs where the POST lands: demo://stats names that replica
                assert stats_of(await c.call("resources/read", {"uri": "demo://stats"}, via=r))["replicaId"] == r.name
                assert text_of(await c.call("tools/call", echo(f"via {r.name}"), via=r)) == f"via {r.name}"
                mark = len(c.stream.messages)
                token = f"progress-{r.name}"
                done = await c.call("tools/call", {"name": "countdown", "arguments": {"steps": 3, "intervalMs": 20}, "_meta": {"progressToken": token}}, via=r)
                assert text_of(done) == "done"
                assert [m["params"]["progress"] for m in c.stream.messages[mark:] if m.get("method") == "notifications/progress"] == [1, 2, 3]
                # a server-to-client request raised on r, answered through the next replica
                answerer = reps[(k + 1) % n]
                mark = len(c.stream.messages)
                call = await c.start("tools/call", {"name": "ask", "arguments": {"question": f"on {r.name}?"}}, via=r)
                req = await c.stream.request("elicitation/create", mark)
                resp = await c.respond(req["id"], {"action": "accept", "content": {"answer": answerer.name}}, via=answerer)
                assert resp.status_code == 202, (r.name, answerer.name, resp.status_code, resp.text)
                assert text_of(await c.stream.response(call["id"])) == f"answer: {answerer.name}"
                # the same answer again, through the third replica: already answered
                again = await c.respond(req["id"], {"action": "accept", "content": {"answer": "twice"}}, via=reps[(k + 2) % n])
                assert not refusal_problems(again, 400), (r.name, refusal_problems(again, 400))
                mark = len(c.stream.messages)
                call = await c.start("tools/call", {"name": "summarize", "arguments": {"text": "fox"}}, via=r)
                req = await c.stream.request("sampling/createMessage", mark)
                resp = await c.respond(req["id"], {"role": "assistant", "model": "m", "content": {"type": "text", "text": "S."}, "stopReason": "endTurn"}, via=answerer)
                assert resp.status_code == 202
                assert text_of(await c.stream.response(call["id"])) == "S."
                mark = len(c.stream.messages)
                call = await c.start("tools/call", {"name": "list-roots", "arguments": {}}, via=r)
                req = await c.stream.request("roots/list", mark)
                resp = await c.respond(req["id"], {"roots": [{"uri": f"file:///{r.name}"}]}, via=reps[(k + 2) % n])
                assert resp.status_code == 202
                assert text_of(await c.stream.response(call["id"])) == f"file:///{r.name}"
    posted = {e.url.split("/messages")[0] for e in sse.posts_of(c.sid)}
    assert posted == {r.base_url for r in reps}, posted


async def test_sse_subscription_and_touch_across_replicas(cluster, sse):
    reps = cluster.replicas
    n = len(reps)
    async with sse.http() as http:
        async with sse_session(http, reps[0], post_to=reps[1 % n]) as s, sse_session(http, reps[1 % n], post_to=reps[2 % n]) as toucher:
            assert (await s.call("resources/subscribe", {"uri": "demo://counter"}, via=reps[2 % n]))["result"] == {}
            for r in reps:
                mark = len(s.stream.messages)
                await toucher.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://items/1"}}, via=r)
                await toucher.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://counter"}}, via=r)
                await s.stream.wait_for(lambda m: m.get("method") == "notifications/resources/updated", 5, mark, f"update raised on {r.name}")
            assert (await s.call("resources/unsubscribe", {"uri": "demo://counter"}, via=reps[1 % n]))["result"] == {}
            mark = len(s.stream.messages)
            await toucher.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://counter"}}, via=reps[0])
            await anyio.sleep(0.3)
            updates = [m for m in s.stream.messages if isinstance(m, dict) and m.get("method") == "notifications/resources/updated"]
            assert [u["params"]["uri"] for u in updates] == ["demo://counter"] * n, updates
            assert not [m for m in s.stream.messages[mark:] if isinstance(m, dict) and m.get("method")]


async def test_sse_cancelled_on_another_replica_cancels_the_handler(cluster, sse):
    reps = cluster.replicas
    n = len(reps)
    runner, canceller = reps[1 % n], reps[2 % n]
    async with sse.http() as http:
        async with sse_session(http, reps[0]) as c:
            before = stats_of(await c.call("resources/read", {"uri": "demo://stats"}, via=runner))
            mark = len(c.stream.messages)
            call = await c.start("tools/call", {"name": "countdown", "arguments": {"steps": 500, "intervalMs": 20}, "_meta": {"progressToken": "x"}}, via=runner)
            await c.stream.wait_for(lambda m: m.get("method") == "notifications/progress", 10, mark, "progress")
            r = await c.notify("notifications/cancelled", {"requestId": call["id"], "reason": "cluster test"}, via=canceller)
            assert r.status_code == 202 and r.content == b"", (r.status_code, r.text)
            after = before
            with anyio.move_on_after(5):
                while after["cancelledHandlers"] <= before["cancelledHandlers"]:
                    after = stats_of(await c.call("resources/read", {"uri": "demo://stats"}, via=runner))
            assert after["cancelledHandlers"] == before["cancelledHandlers"] + 1, (runner.name, before, after)
            await anyio.sleep(0.3)
            assert c.stream.answers_to(call["id"]) == [], "a response followed the cancellation"


async def test_sse_get_refusals_on_each_replica(cluster, sse):
    async with sse.http() as http:
        for r in cluster.replicas:
            for headers, status in (({"origin": EVIL_ORIGIN}, 403), ({"accept": "application/json"}, 406)):
                async with open_sse(http, r, headers=headers) as st:
                    assert st.status == status, (r.name, headers, st.status, st.body[:200])
                    assert not refusal_problems(st.http_response, status), (r.name, headers, refusal_problems(st.http_response, status))
            async with open_sse(http, r, headers={"origin": r.base_url}) as st:
                assert st.status == 200 and st.session_id, (r.name, st.status, st.body[:200])


@pytest.mark.restarts_replicas
async def test_sse_draining_holder_answers_in_flight_then_ends_and_refuses_new_posts(cluster, sse):
    """SIGTERM to the replica holding a stream while a countdown of its session runs on another replica: new POSTs
    for the session get 404 (open a new stream) on every replica, the countdown's progress and response still reach
    the stream, then the stream ends and the replica exits within its drain."""
    if len(cluster.replicas) < 3:
        pytest.skip("needs three replicas")
    holder, runner, other = cluster.a, cluster.b, cluster.c
    stopped: dict = {}

    def stop() -> None:
        stopped.update(cluster_ctl.stop(cluster.state_dir, holder.name))

    try:
        async with sse.http() as http:
            async with sse_session(http, holder, post_to=runner) as c:
                steps = 12
                mark = len(c.stream.messages)
                call = await c.start("tools/call", {"name": "countdown", "arguments": {"steps": steps, "intervalMs": 200}, "_meta": {"progressToken": "drain"}}, via=runner)
                await c.stream.wait_for(lambda m: m.get("method") == "notifications/progress", 10, mark, "first progress")
                refused: dict[str, list[int]] = {}
                async with anyio.create_task_group() as tg:
                    tg.start_soon(anyio.to_thread.run_sync, stop)
                    await anyio.sleep(0.1)
                    for r in (runner, other):
                        refused[r.name] = await wait_gone(c, r, timeout=3)
                    answered_early = bool(c.stream.answers_to(call["id"]))
                    # a new stream on the draining replica (still listening while its stream drains): 503, Retry-After
                    try:
                        async with open_sse(http, holder) as st:
                            draining_get = (st.status, st.headers.get("retry-after"))
                            if st.status != 200:
                                assert not refusal_problems(st.http_response, 503), refusal_problems(st.http_response, 503)
                    except httpx2.TransportError as exc:
                        draining_get = (None, repr(exc))
                    done = await c.stream.response(call["id"], timeout=10)
                    ended = await c.stream.wait_ended(8)
                assert all(v[-1:] == [404] for v in refused.values()), f"POSTs during the drain: {refused}"
                assert not answered_early, "the countdown had answered before the POSTs were refused (the drain came too late to test)"
                r = await c.post(c.request_msg("ping"), via=other)
                assert not refusal_problems(r, 404, -32600, GONE_WORDS), refusal_problems(r, 404, -32600, GONE_WORDS)
                assert text_of(done) == "done", done
                progress = [m["params"]["progress"] for m in c.stream.messages[mark:] if m.get("method") == "notifications/progress"]
                assert progress == list(range(1, steps + 1)), progress
                assert ended and c.stream.ended, f"the draining replica did not end the stream (error {c.stream.error!r})"
                assert draining_get[0] == 503 and draining_get[1], f"GET /sse on the draining replica: {draining_get} (expected 503 with Retry-After)"
        assert stopped.get("graceful"), f"{holder.name} did not exit within its grace: {stopped}"
        print(f"drain of {holder.name}: POST statuses meanwhile {refused}; GET /sse on it: {draining_get}; stopped in {stopped.get('stopped_s', 0):.2f} s")
    finally:
        await anyio.to_thread.run_sync(cluster.restart, holder)
