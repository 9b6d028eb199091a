"""The official client mcp 2.3.0, at protocol 2026-07-28 and in legacy mode (2025-11-25), through the
round-robin nginx: consecutive requests of one client land on different replicas, and the client cannot tell.

Each client runs tools (elicitation, sampling and roots included), progress, and a subscription that a
`touch` raised through nginx (so on whichever replica) feeds. Everything the servers send is validated
against the schema of the negotiated version by the `connect` fixture.
"""

from __future__ import annotations

import json

import anyio
import mcp_types as types
import pytest
from mcp.client.session import ClientRequestContext
from mcp.client.subscriptions import ResourceUpdated

from cluster_helpers import relayed_answers, upstream_names, wait_for_standalone_streams
from demo_contract import check_counter_subscription, text_of  # Tests/interop (on sys.path through conftest.py)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]


class Callbacks:
    """Client-side answers to elicitation, sampling and roots, recording what was asked."""

    def __init__(self) -> None:
        self.questions: list[str] = []
        self.samples = 0

    async def elicit(self, ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.questions.append(params.message)
        return types.ElicitResult(action="accept", content={"answer": f"a{len(self.questions)}"})

    async def sample(self, ctx: ClientRequestContext, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.samples += 1
        return types.CreateMessageResult(
            role="assistant", model="cluster-model", content=types.TextContent(type="text", text="Short."), stop_reason="endTurn"
        )

    async def roots(self, ctx: ClientRequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/project-a", name="a"), types.Root(uri="file:///srv/b")])

    def kwargs(self) -> dict:
        return {"elicitation_callback": self.elicit, "sampling_callback": self.sample, "list_roots_callback": self.roots}


async def run_tools(c, cb: Callbacks) -> None:
    assert text_of(await c.call_tool("echo", {"text": "héllo ✓"})) == "héllo ✓"
    assert (await c.call_tool("add", {"a": 2, "b": 3})).structured_content == {"sum": 5}
    assert text_of(await c.call_tool("ask", {"question": "Through nginx?"})) == "answer: a1"
    assert text_of(await c.call_tool("ask-twice", {})) == "first: a2, second: a3"
    assert text_of(await c.call_tool("summarize", {"text": "The quick brown fox."})) == "Short."
    assert text_of(await c.call_tool("list-roots", {})).split("\n") == ["file:///tmp/project-a", "file:///srv/b"]
    progress = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    assert text_of(await c.call_tool("countdown", {"steps": 3, "intervalMs": 50}, progress_callback=on_progress)) == "done"
    assert progress == [1.0, 2.0, 3.0]
    assert cb.questions == ["Through nginx?", "First question?", "Second question?"]
    assert cb.samples == 1
    stats = json.loads((await c.read_resource("demo://stats")).contents[0].text)
    assert stats["replicaId"]


async def test_mcp2_modern_client_through_nginx(cluster, connect):
    cb = Callbacks()
    mark = connect.wire.mark()
    async with connect(**cb.kwargs()) as c, connect() as toucher:
        await run_tools(c, cb)
        with anyio.fail_after(10):
            async with c.listen(resource_subscriptions=["demo://counter"]) as sub:
                await toucher.call_tool("touch", {"uri": "demo://greeting"})  # not subscribed
                await toucher.call_tool("touch", {"uri": "demo://counter"})
                assert await sub.__anext__() == ResourceUpdated(uri="demo://counter")
    exchanges, _, _, _ = connect.wire.since(mark)
    served = upstream_names(cluster, exchanges)
    assert len(served) == len(exchanges), "a request did not go through nginx"
    assert len(set(served)) == len(cluster.replicas), f"round robin did not reach every replica: {served}"
    # the three rounds of ask-twice did not all land on one replica
    rounds = [e for e in exchanges if e.rpc_method == "tools/call" and e.request_body["params"]["name"] == "ask-twice"]
    assert len(rounds) == 3, [e.describe() for e in rounds]
    if len(cluster.replicas) > 1:
        assert len(set(upstream_names(cluster, rounds))) > 1, upstream_names(cluster, rounds)


async def test_mcp2_legacy_client_through_nginx(cluster, connect):
    cb = Callbacks()
    logs: list = []
    updates: list[str] = []
    got = anyio.Event()

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params.level)

    async def on_message(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(message.params.uri)
            got.set()

    mark = connect.wire.mark()
    async with connect(mode="legacy", logging_callback=on_log, message_handler=on_message, **cb.kwargs()) as c, \
            connect(mode="legacy") as toucher:
        assert c.protocol_version == "2025-11-25"
        await run_tools(c, cb)
        assert logs == [], "log messages before logging/setLevel"
        await c.set_logging_level("info")
        assert text_of(await c.call_tool("countdown", {"steps": 3, "intervalMs": 50})) == "done"
        assert logs == ["info"] * 3, logs
        await check_counter_subscription(
            c, toucher, got, "demo://items/3", ready=lambda: wait_for_standalone_streams(connect.wire, mark, 2)
        )
    assert updates == ["demo://counter"]
    exchanges, _, _, _ = connect.wire.since(mark)
    served = upstream_names(cluster, exchanges)
    assert len(set(served)) == len(cluster.replicas), f"round robin did not reach every replica: {served}"
    assert [e.status for e in exchanges if e.http_method == "DELETE"] == [200, 200]
    answers = relayed_answers(cluster, connect.wire, mark)
    assert len(answers) == 5, answers  # ask, ask-twice (2), summarize, list-roots
    if len(cluster.replicas) > 1:
        assert any(waiting != landed for waiting, landed in answers), (
            f"no answer landed on another replica than the one waiting for it: {answers}"
        )
