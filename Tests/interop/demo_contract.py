"""The demo server's fixed contract and small readers shared by the SDK-client suites (interop and cluster).

`mcp-demo-server` exposes exactly these tools and static resources (Sources/MCPDemo/DemoServer.swift);
`demo://stats` reports the replica's runtime counters, which the tests read to prove server-side effects
(for example that a cancelled handler really stopped).
"""
from __future__ import annotations

import json

import anyio

TOOLS = {"echo", "add", "countdown", "ask", "ask-twice", "summarize", "list-roots", "touch", "fail", "long-job"}
STATIC_RESOURCES = {"demo://greeting", "demo://counter", "demo://stats"}


def text_of(result) -> str:
    """The text of the first content block of an SDK tool result (mcp 1.x or 2.x types)."""
    assert result.content, f"no content in {result!r}"
    block = result.content[0]
    assert block.type == "text", f"expected text content, got {block!r}"
    return block.text


async def stats(client) -> dict:
    """The replica's counters from demo://stats, read through an SDK client or session."""
    rr = await client.read_resource("demo://stats")
    assert len(rr.contents) == 1
    s = json.loads(rr.contents[0].text)
    assert set(s) >= {"activeHandlers", "cancelledHandlers", "openListenStreams", "replicaId"}, s
    return s


async def poll_stats(client, predicate, timeout: float = 10.0) -> dict:
    """Reads demo://stats until `predicate(stats)` holds; returns the last reading (the caller asserts)."""
    last: dict = {}
    with anyio.move_on_after(timeout):
        while True:
            last = await stats(client)
            if predicate(last):
                return last
            await anyio.sleep(0.05)
    return last


class Recorder:
    """Progress and log notifications a client receives; its methods are the SDKs' callbacks (mcp 1.x and 2.x)."""

    def __init__(self) -> None:
        self.progress: list[tuple[float, float | None]] = []
        self.logs: list = []

    async def on_progress(self, value: float, total: float | None, message: str | None) -> None:
        self.progress.append((value, total))

    async def on_log(self, params) -> None:
        self.logs.append(params)


async def check_countdown_logging(client, seen: Recorder, quiet_level: str) -> None:
    """`countdown` through an SDK client or session that logs into `seen`: progress arrives for every step, and
    log messages only once logging/setLevel asked for them, and only at or above that level."""
    r = await client.call_tool("countdown", {"steps": 2, "intervalMs": 5}, progress_callback=seen.on_progress)
    assert text_of(r) == "done"
    assert seen.logs == [], "log messages before logging/setLevel"
    await client.set_logging_level("info")
    seen.progress.clear()
    r = await client.call_tool("countdown", {"steps": 3, "intervalMs": 10}, progress_callback=seen.on_progress)
    assert text_of(r) == "done"
    assert seen.progress == [(1.0, 3.0), (2.0, 3.0), (3.0, 3.0)]
    assert [l.level for l in seen.logs] == ["info"] * 3, seen.logs
    await client.set_logging_level(quiet_level)
    seen.logs.clear()
    await client.call_tool("countdown", {"steps": 2, "intervalMs": 5})
    assert seen.logs == []


async def check_counter_subscription(client, toucher, got, other_uri: str, ready=None) -> None:
    """`client` (an SDK client or session whose resource-updated handler sets `got`) subscribes to demo://counter;
    `toucher`, another client, touches `other_uri` (not subscribed) and then the counter, so an update must reach
    `client`. After unsubscribing, one more touch must not: the caller checks that the updates it recorded hold
    demo://counter once. `ready`, if given, is awaited after subscribing (behind a load balancer: until the
    client's standalone streams are open)."""
    await client.subscribe_resource("demo://counter")
    if ready is not None:
        await ready()
    await toucher.call_tool("touch", {"uri": other_uri})
    await toucher.call_tool("touch", {"uri": "demo://counter"})
    with anyio.fail_after(5):
        await got.wait()
    await client.unsubscribe_resource("demo://counter")
    await toucher.call_tool("touch", {"uri": "demo://counter"})
    await anyio.sleep(0.3)
