"""Replicas that stop while they serve legacy streams (DESIGN.md, "Promises that must hold": every request gets
exactly one final response):

* stopped gracefully (SIGTERM, as in a rolling restart): the replica closes its legacy streams so that clients
  resume elsewhere, and the handler finishes within the drain; the stream resumed on another replica carries the
  rest of the events and the final response;
* killed (SIGKILL): the stream resumed on another replica ends with a JSON-RPC error that says so; nothing hangs.

Run after the other tests of their venv (they restart the replica they stop)."""

from __future__ import annotations

import os
import signal

import anyio
import pytest

import cluster_ctl
from cluster_helpers import countdown_msg, dump, pin, progress_values
from legacy_http import collect, data_frames, initialize, next_frame

pytestmark = [pytest.mark.anyio, pytest.mark.restarts_replicas]

WAIT = 12.0  # seconds the resumed stream may take to end


async def test_stream_of_draining_replica_resumes_elsewhere_with_everything(cluster, connect):
    if len(cluster.replicas) < 2:
        pytest.skip("needs a second replica to resume on")
    a, b = cluster.a, cluster.b
    steps = 12
    try:
        async with connect.http() as http:
            s = await initialize(http, b.url)
            msg = countdown_msg(s, steps, 150, token="drained")
            seen: list = []
            async with anyio.create_task_group() as tg:
                async with pin(s, a).stream(msg) as (r, frames):
                    assert frames is not None
                    while len(data_frames(seen)) < 2:
                        seen.append(await next_frame(frames))
                    # out of nginx's rotation (nothing is routed through it here anyway), then SIGTERM
                    tg.start_soon(anyio.to_thread.run_sync, cluster_ctl.stop, cluster.state_dir, a.name)
                    with anyio.move_on_after(8) as scope:
                        async for f in frames:
                            seen.append(f)
                    assert not scope.cancelled_caught, "the draining replica did not close the legacy stream within 8 s"
            finals = [e.message for e in data_frames(seen) if "id" in e.message and "method" not in e.message]
            rest: list = []
            if not finals:
                async with pin(s, b).get(last_event_id=seen[-1].id) as (g, frames):
                    assert g.status_code == 200, g.status_code
                    rest = await collect(frames, 15)
            events = data_frames(seen) + data_frames(rest)
            assert progress_values(events) == list(range(1, steps + 1)), [e.message for e in events]
            finals = [e.message for e in events if "id" in e.message and "method" not in e.message]
            assert len(finals) == 1 and finals[0]["id"] == msg["id"], [e.message for e in events]
            assert "result" in finals[0] and finals[0]["result"]["content"][0]["text"] == "done", dump(finals[0])
            print(f"drain: {len(data_frames(seen))} events on {a.name} before it closed the stream, {len(data_frames(rest))} on {b.name}")
    finally:
        await anyio.to_thread.run_sync(cluster.restart, a)


async def test_stream_of_killed_replica_resumed_elsewhere_ends_with_an_error(cluster, connect):
    if len(cluster.replicas) < 2:
        pytest.skip("needs a second replica to resume on")
    a, b = cluster.a, cluster.b
    try:
        async with connect.http() as http:
            s = await initialize(http, b.url)
            msg = countdown_msg(s, 100, 100, token="killed")
            seen: list = []
            async with pin(s, a).stream(msg) as (r, frames):
                assert frames is not None
                while len(data_frames(seen)) < 2:
                    seen.append(await next_frame(frames))
                pid = cluster_ctl.pid_of(cluster.state_dir, a.name)
                os.kill(pid, signal.SIGKILL)
            async with pin(s, b).get(last_event_id=seen[-1].id) as (g, frames):
                assert g.status_code == 200, g.status_code
                with anyio.move_on_after(WAIT) as scope:
                    rest = await collect(frames, WAIT + 5)
            assert not scope.cancelled_caught, (
                "the stream of a request whose replica was killed, resumed on another replica, was still open "
                f"{WAIT:.0f} s later without a final response"
            )
            events = data_frames(seen) + data_frames(rest)
            finals = [e.message for e in events if "id" in e.message and "method" not in e.message]
            assert len(finals) == 1, [e.message for e in events]
            assert finals[0]["id"] == msg["id"] and "error" in finals[0], dump(finals[0])
            error = finals[0]["error"]
            assert error["code"] == -32010, dump(finals[0])
            assert error["data"] == {"reason": "replica_lost", "replica": a.name}, dump(finals[0])
            assert progress_values(events) == list(range(1, len(progress_values(events)) + 1))
    finally:
        await anyio.to_thread.run_sync(cluster.restart, a)
