"""2025-11-25 tasks with the official client mcp 1.30.0's experimental tasks API (`session.experimental`), through
the round-robin nginx: every request may land on another replica than the one running the task. Runs in the mcp
1.x venv; everything the servers send is validated against the 2025-11-25 schema by the `connect` fixture.
"""

from __future__ import annotations

import anyio
import pytest
from mcp import types

from cluster_helpers import upstream_names
from test_legacy_mcp1_client import v1_session  # Tests/interop (on sys.path through conftest.py)
from demo_contract import text_of

pytestmark = pytest.mark.anyio


async def _until(session, task_id: str, status: set[str], limit: float = 15.0):
    with anyio.fail_after(limit):
        while True:
            got = await session.experimental.get_task(task_id)
            if got.status in status:
                return got
            await anyio.sleep(0.05)


async def test_mcp1_tasks_through_nginx(cluster, connect):
    questions: list[str] = []

    async def elicit(ctx, params: types.ElicitRequestParams) -> types.ElicitResult:
        questions.append(params.message)
        return types.ElicitResult(action="accept", content={"ok": True})

    mark = connect.wire.mark()
    async with v1_session(connect, elicitation_callback=elicit) as s:
        assert s.init.protocolVersion == "2025-11-25"
        caps = s.init.capabilities
        assert caps.tasks is not None and caps.tasks.requests is not None, caps
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert tools["long-job"].execution is not None and tools["long-job"].execution.taskSupport == "optional"

        # A task: created on one replica, polled and fetched on the others.
        created = await s.experimental.call_tool_as_task("long-job", {"steps": 3, "intervalMs": 50})
        task_id = created.task.taskId
        assert created.task.status == "working"
        done = await _until(s, task_id, {"completed"})
        assert done.statusMessage == "step 3 of 3"
        result = await s.experimental.get_task_result(task_id, types.CallToolResult)
        assert text_of(result) == "done: 3"
        listed = await s.experimental.list_tasks()
        assert task_id in [t.taskId for t in listed.tasks]

        # tasks/result blocks until the end, and carries the task's elicitation to the client on its stream.
        confirmed = await s.experimental.call_tool_as_task("long-job", {"steps": 2, "intervalMs": 20, "confirm": True})
        with anyio.fail_after(15):
            final = await s.experimental.get_task_result(confirmed.task.taskId, types.CallToolResult)
        assert text_of(final) == "done: 2"
        assert len(questions) == 1 and "Continue?" in questions[0]

        # Cancelled before the response; a second cancel of the terminal task is refused.
        slow = await s.experimental.call_tool_as_task("long-job", {"steps": 1000, "intervalMs": 20})
        cancelled = await s.experimental.cancel_task(slow.task.taskId)
        assert cancelled.status == "cancelled"
        with pytest.raises(Exception):
            await s.experimental.cancel_task(slow.task.taskId)
        assert (await s.experimental.get_task(slow.task.taskId)).status == "cancelled"

    exchanges, _, _, _ = connect.wire.since(mark)
    served = upstream_names(cluster, exchanges)
    assert len(set(served)) == len(cluster.replicas), f"round robin did not reach every replica: {served}"
