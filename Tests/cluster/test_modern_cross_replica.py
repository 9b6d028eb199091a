"""Protocol 2026-07-28 across replicas with the official client (mcp 2.3.0), each client pinned to one replica:
`requestState` sealed on one replica opens on any other (one shared key ring), MRTR rounds hop replicas, and a
`subscriptions/listen` stream held by one replica hears changes raised on the others (the shared bus).

Everything the servers send is validated against the 2026-07-28 schema by the `connect` fixture.
"""

from __future__ import annotations

import anyio
import mcp_types as types
import pytest
from mcp import MCPError
from mcp.client.session import ClientRequestContext
from mcp.client.subscriptions import ResourceUpdated
from demo_contract import text_of  # Tests/interop (on sys.path through conftest.py)

pytestmark = pytest.mark.anyio


async def _unused_elicitation(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
    raise AssertionError("the manual rounds must not reach the callback")  # only declares the capability


def accept(answer: str) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"answer": answer})


def key_id(request_state: str) -> str:
    """`v1.<keyId>.<sealed>` (docs/architecture.md)."""
    version, kid, _ = request_state.split(".", 2)
    assert version == "v1", request_state
    return kid


async def test_request_state_sealed_on_a_opens_on_b(cluster, connect):
    async with connect.to(cluster.a)(elicitation_callback=_unused_elicitation) as on_a, \
            connect.to(cluster.b)(elicitation_callback=_unused_elicitation) as on_b:
        first = await on_a.session.call_tool("ask", {"question": "Sealed on A?"}, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult), first
        assert first.request_state and first.input_requests and len(first.input_requests) == 1
        (key, req), = first.input_requests.items()
        assert req.method == "elicitation/create"
        final = await on_b.session.call_tool(
            "ask",
            {"question": "Sealed on A?"},
            input_responses={key: accept("opened on B")},
            request_state=first.request_state,
            allow_input_required=True,
        )
        assert isinstance(final, types.CallToolResult), final
        assert text_of(final) == "answer: opened on B"


async def test_ask_twice_rounds_on_three_replicas(cluster, connect):
    a, b, c = cluster.a, cluster.b, cluster.c
    mark = connect.wire.mark()
    async with connect.to(a)(elicitation_callback=_unused_elicitation) as on_a, \
            connect.to(b)(elicitation_callback=_unused_elicitation) as on_b, \
            connect.to(c)(elicitation_callback=_unused_elicitation) as on_c:
        r1 = await on_a.session.call_tool("ask-twice", {}, allow_input_required=True)
        assert isinstance(r1, types.InputRequiredResult), r1
        (k1, q1), = r1.input_requests.items()
        assert q1.params.message == "First question?"
        r2 = await on_b.session.call_tool(
            "ask-twice", {}, input_responses={k1: accept("one")}, request_state=r1.request_state, allow_input_required=True
        )
        assert isinstance(r2, types.InputRequiredResult), r2
        (k2, q2), = r2.input_requests.items()
        assert q2.params.message == "Second question?" and k2 != k1
        assert r2.request_state != r1.request_state
        r3 = await on_c.session.call_tool(
            "ask-twice", {}, input_responses={k2: accept("two")}, request_state=r2.request_state, allow_input_required=True
        )
        assert isinstance(r3, types.CallToolResult), r3
        assert text_of(r3) == "first: one, second: two"
        # every replica seals with the same current key
        assert key_id(r1.request_state) == key_id(r2.request_state)
        # a state bound to another call is refused by yet another replica
        with pytest.raises(MCPError) as ei:
            await on_a.session.call_tool(
                "ask", {"question": "other call"}, input_responses={k1: accept("x")}, request_state=r1.request_state,
                allow_input_required=True,
            )
        assert ei.value.code == types.INVALID_PARAMS, ei.value
    exchanges, _, _, _ = connect.wire.since(mark)
    hosts = [e.url.split("/")[2] for e in exchanges if e.rpc_method == "tools/call"]
    assert hosts[:3] == [f"127.0.0.1:{r.port}" for r in (a, b, c)], hosts


async def test_listen_on_a_hears_touch_on_b(cluster, connect):
    a, b, c = cluster.a, cluster.b, cluster.c
    mark = connect.wire.mark()
    async with connect.to(a)() as listener, connect.to(c)() as listener_c, connect.to(b)() as toucher:
        before = int((await toucher.read_resource("demo://counter")).contents[0].text)
        with anyio.fail_after(10):
            async with listener.listen(resource_subscriptions=["demo://counter"]) as sub_a, \
                    listener_c.listen(resource_subscriptions=["demo://counter"]) as sub_c:
                await toucher.call_tool("touch", {"uri": "demo://items/5"})  # not subscribed
                r = await toucher.call_tool("touch", {"uri": "demo://counter"})
                assert r.is_error is False
                assert await sub_a.__anext__() == ResourceUpdated(uri="demo://counter")
                assert await sub_c.__anext__() == ResourceUpdated(uri="demo://counter")
                await anyio.sleep(0.3)  # anything late or unsubscribed would be on the wire now
        # the counter lives in the shared store: every replica reads the new value
        for client in (listener, listener_c, toucher):
            assert int((await client.read_resource("demo://counter")).contents[0].text) == before + 1
    exchanges, _, _, _ = connect.wire.since(mark)
    listens = [e for e in exchanges if e.rpc_method == "subscriptions/listen"]
    assert len(listens) == 2
    for listen in listens:
        updated = [m["params"]["uri"] for m in listen.messages if m.get("method") == "notifications/resources/updated"]
        assert updated == ["demo://counter"], (listen.url, updated)
