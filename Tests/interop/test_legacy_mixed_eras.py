"""A modern (2026-07-28) and a legacy (2025-11-25, session-based) client of mcp==2.3.0 on the same
server process at the same time: their requests interleave, and each gets what its own era
prescribes (MRTR vs. elicitation/create on the SSE stream; per-request log opt-in vs.
logging/setLevel; subscriptions/listen vs. resources/subscribe on the GET stream). The validating tee
judges every exchange by its era.
"""

from __future__ import annotations

import anyio
import mcp_types as types
import pytest
from mcp.client.session import ClientRequestContext
from mcp.client.subscriptions import ResourceUpdated

from interop_wire import MODERN
from demo_contract import text_of

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]


async def test_modern_and_legacy_clients_concurrently(connect):
    results: dict[str, list] = {"modern": [], "legacy": []}
    progress: dict[str, list] = {"modern": [], "legacy": []}
    logs: dict[str, list] = {"modern": [], "legacy": []}

    def elicitation_for(era: str):
        async def elicit(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
            await anyio.sleep(0.05)  # let the other era's traffic interleave
            return types.ElicitResult(action="accept", content={"answer": f"{era}:{params.message}"})

        return elicit

    def on_log_for(era: str):
        async def on_log(params: types.LoggingMessageNotificationParams) -> None:
            logs[era].append(params.level)

        return on_log

    mark = connect.wire.mark()
    async with (
        connect(elicitation_callback=elicitation_for("modern"), logging_callback=on_log_for("modern"), log_level="info") as modern,
        connect(mode="legacy", elicitation_callback=elicitation_for("legacy"), logging_callback=on_log_for("legacy")) as legacy,
    ):
        assert modern.protocol_version == MODERN and legacy.protocol_version == "2025-11-25"
        await legacy.set_logging_level("info")

        async def run(era: str, client) -> None:
            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress[era].append(value)

            for round_ in range(2):
                async with anyio.create_task_group() as tg:

                    async def countdown() -> None:
                        r = await client.call_tool("countdown", {"steps": 4, "intervalMs": 30}, progress_callback=on_progress)
                        results[era].append(text_of(r))

                    async def ask() -> None:
                        r = await client.call_tool("ask", {"question": f"q{round_}"})
                        results[era].append(text_of(r))

                    tg.start_soon(countdown)
                    tg.start_soon(ask)

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(run, "modern", modern)
                tg.start_soon(run, "legacy", legacy)

    for era in ("modern", "legacy"):
        assert sorted(results[era]) == sorted(["done", f"answer: {era}:q0", "done", f"answer: {era}:q1"]), results
        assert progress[era] == [1.0, 2.0, 3.0, 4.0] * 2, progress
        assert logs[era] == ["info"] * 8, logs

    # on the wire: the modern client used MRTR and never a session; the legacy one got requests on SSE
    exchanges, recorded, _, _ = connect.wire.since(mark)
    modern_ex = [e for e in exchanges if e.era == "modern"]
    legacy_ex = [e for e in exchanges if e.era == "legacy"]
    assert modern_ex and legacy_ex
    assert not any("mcp-session-id" in e.request_headers for e in modern_ex)
    assert not any("mcp-session-id" in e.response_headers for e in modern_ex), "a session id minted for a modern request"
    kinds = {(r.exchange.era, r.kind, r.definition) for r in recorded}
    assert ("modern", "result", "InputRequiredResult") in kinds
    assert ("legacy", "request", "ElicitRequest") in kinds
    assert not any(r.exchange.era == "modern" and r.kind == "request" for r in recorded)


async def test_resource_update_reaches_both_eras(connect):
    """A touch by either client reaches the modern listener (subscriptions/listen) and the legacy
    subscriber (resources/subscribe, standalone GET stream)."""
    legacy_updates = []
    got = anyio.Event()

    async def on_message(message) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            legacy_updates.append(message.params.uri)
            if len(legacy_updates) == 2:
                got.set()

    async with connect() as modern, connect(mode="legacy", message_handler=on_message) as legacy:
        await legacy.subscribe_resource("demo://counter")
        with anyio.fail_after(10):
            async with modern.listen(resource_subscriptions=["demo://counter"]) as sub:
                await legacy.call_tool("touch", {"uri": "demo://counter"})  # legacy touches
                assert await sub.__anext__() == ResourceUpdated(uri="demo://counter")
                await modern.call_tool("touch", {"uri": "demo://counter"})  # modern touches
                assert await sub.__anext__() == ResourceUpdated(uri="demo://counter")
                await got.wait()
    assert legacy_updates == ["demo://counter", "demo://counter"]
