"""The demo server's fixed contract and small readers shared by the SDK-client suites (interop and cluster).

`mcp-demo-server` exposes exactly these tools and static resources (Sources/MCPDemo/DemoServer.swift);
`demo://stats` reports the replica's runtime counters, which the tests read to prove server-side effects
(for example that a cancelled handler really stopped).
"""
from __future__ import annotations

import json

import anyio

TOOLS = {"echo", "add", "countdown", "ask", "ask-twice", "summarize", "list-roots", "touch", "fail"}
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
