"""The official client mcp 1.30.0 (legacy only, 2025-11-25) through the round-robin nginx. Runs in the mcp 1.x venv.

Tools with elicitation, sampling and roots (the answers land on whichever replica nginx picks and are relayed
to the one waiting), progress and logging, and a subscription fed by a `touch` raised on any replica.
Everything the servers send is validated against the 2025-11-25 schema by the `connect` fixture.
"""

from __future__ import annotations

import json

import anyio
import pytest

from mcp1_callbacks import RecordingCallbacks
from cluster_helpers import relayed_answers, upstream_names, wait_for_standalone_streams
from test_legacy_mcp1_client import v1_session  # Tests/interop (on sys.path through conftest.py)
from demo_contract import check_counter_subscription, text_of

pytestmark = pytest.mark.anyio


async def test_mcp1_client_through_nginx(cluster, connect):
    cb = RecordingCallbacks()
    questions, logs, updates, progress, got, on_progress = cb.questions, cb.logs, cb.updates, cb.progress, cb.got, cb.on_progress

    mark = connect.wire.mark()
    async with v1_session(
        connect, **cb.session_kwargs()
    ) as s, v1_session(connect) as toucher:
        assert s.init.protocolVersion == "2025-11-25"
        assert text_of(await s.call_tool("echo", {"text": "héllo ✓"})) == "héllo ✓"
        assert (await s.call_tool("add", {"a": 2, "b": 3})).structuredContent == {"sum": 5}
        assert text_of(await s.call_tool("ask", {"question": "Through nginx?"})) == "answer: a1"
        assert text_of(await s.call_tool("ask-twice", {})) == "first: a2, second: a3"
        assert text_of(await s.call_tool("summarize", {"text": "The quick brown fox."})) == "Short."
        assert text_of(await s.call_tool("list-roots", {})).split("\n") == ["file:///tmp/project-a", "file:///srv/b"]
        await s.set_logging_level("info")
        r = await s.call_tool("countdown", {"steps": 3, "intervalMs": 50}, progress_callback=on_progress)
        assert text_of(r) == "done" and progress == [1.0, 2.0, 3.0]
        assert logs == ["info"] * 3, logs
        stats = json.loads((await s.read_resource("demo://stats")).contents[0].text)
        assert stats["replicaId"]
        await check_counter_subscription(
            s, toucher, got, "demo://items/3", ready=lambda: wait_for_standalone_streams(connect.wire, mark, 2)
        )
    assert updates == ["demo://counter"]
    assert questions == ["Through nginx?", "First question?", "Second question?"]
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
