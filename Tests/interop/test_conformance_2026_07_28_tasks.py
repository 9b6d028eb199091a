"""Conformance, protocol 2026-07-28: the `tasks-*` SERVER scenarios (the `io.modelcontextprotocol/tasks` extension,
SEP-2663). Not scored: the requirement list runs them for visibility only (extension, pending upstream).

One test per scenario, named after its id. Each test re-states in our own code what the scenario sends and checks;
a scenario is made of several independent checks, so a test runs all of them and fails listing every check (by the
suite's check id) that did not hold. The fixtures the scenarios call on the server: `greet` (sync only, `{name}` ->
"Hello, {name}!"), `slow_compute` (task-supporting, `{seconds, label}`; `seconds: 0` may complete at once; settles to
`cancelled` when cancelled while running), `failing_job` (task support *required*; ends with a tool error, isError),
`protocol_error_job` (task-supporting; ends with a JSON-RPC error), `confirm_delete` (task-supporting, `{filename}`;
parks in input_required on one elicitation), `multi_input` (task-supporting; two elicitations pending at once) and
`test_tool_with_task` (task support required; an MRTR round asking for `user_name`, then a task whose result text
contains the name).

Wire: stateless requests (`_meta` with protocol version, client info and the client capabilities of the simulated
client in every request; `Mcp-Method`, and `Mcp-Name` = `params.taskId` on tasks/get, tasks/update and tasks/cancel).
The requests are built and posted by conformance_wire.py, but the suite's `conformance.http()` tee judges results by
the core schema only, where `resultType: "task"` and the `tasks/*` methods do not exist, so these tests post over a
plain HTTP client and validate every server message themselves: core shapes against Tests/fixtures/schema/2026-07-28,
task shapes (`CreateTaskResult`, `GetTaskResult`, `UpdateTaskResult`, `CancelTaskResult`, `TaskStatusNotification`)
against the extension's own JSON schema.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any, Iterator

import anyio
import httpx2
import pytest

from conformance_wire import (
    MCP_NAME_PARAMS, OWN_CLIENT_INFO, VERSION, Reply, RpcError, post, result_of, rpc_request, sse_events, std_headers,
    with_meta,
)
from conftest import REPO_ROOT, SCHEMA_PATH
from interop_wire import ERROR_DEFS, SchemaValidator

pytestmark = pytest.mark.anyio

TASKS_EXT = "io.modelcontextprotocol/tasks"
EXT_ONLY = {"extensions": {TASKS_EXT: {}}}
FULL = {"elicitation": {}, "sampling": {}, "extensions": {TASKS_EXT: {}}}
TERMINAL = ("completed", "failed", "cancelled")
STATUSES = ("working", "input_required", *TERMINAL)
ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
REQUEST_SECONDS = 10.0  # bound on one exchange
POLL_SECONDS = 10.0  # bound on polling a task to a status
TASK_ENVELOPE = ("taskId", "status", "result", "error", "inputRequests")

# The extension's schema: vendored beside the core schemas if present, else the shared spec copy.
EXT_SCHEMA_CANDIDATES = (
    REPO_ROOT / "Tests" / "fixtures" / "schema" / "extensions" / "tasks" / "schema.json",
    Path("/work/shared/spec/extensions/tasks/ext-tasks/schema.json"),
)

# Result definitions by method (core schema), and the task-shaped ones (extension schema).
CORE_RESULTS = {
    "server/discover": "DiscoverResult",
    "tools/call": "CallToolResult",
    "tools/list": "ListToolsResult",
    "subscriptions/listen": "SubscriptionsListenResult",
}
EXT_RESULTS = {"tasks/get": "GetTaskResult", "tasks/update": "UpdateTaskResult", "tasks/cancel": "CancelTaskResult"}
# Mcp-Name: the core routing plus `params.taskId` on the task methods.
TASK_NAME_PARAMS = {**MCP_NAME_PARAMS, "tasks/get": "taskId", "tasks/update": "taskId", "tasks/cancel": "taskId"}


# --------------------------------------------------------------------------------------------------
# Validation of everything the server sends
# --------------------------------------------------------------------------------------------------


class TasksWire:
    def __init__(self) -> None:
        self.core = SchemaValidator(SCHEMA_PATH)
        path = next((p for p in EXT_SCHEMA_CANDIDATES if p.is_file()), None)
        self.ext = SchemaValidator(path) if path else None
        self.violations: list[str] = []

    def _check(self, validator: SchemaValidator | None, definition: str, instance: Any, where: str) -> None:
        if validator is None:
            return
        for err in validator.errors(definition, instance):
            self.violations.append(f"{where}: {err}")

    def response(self, method: str, status: int, msg: Any) -> None:
        where = f"response to {method} (HTTP {status})"
        if not isinstance(msg, dict):
            self.violations.append(f"{where}: not a JSON object: {msg!r}")
            return
        if "error" in msg:
            self._check(self.core, "JSONRPCErrorResponse", msg, where)
            definition = ERROR_DEFS.get((msg.get("error") or {}).get("code"))
            if definition:
                self._check(self.core, definition, msg, where)
                if status != 400:
                    self.violations.append(f"{where}: {definition} must be sent with HTTP 400")
            return
        self._check(self.core, "JSONRPCResultResponse", msg, where)
        result = msg.get("result")
        rtype = result.get("resultType") if isinstance(result, dict) else None
        if rtype == "task":
            if method != "tools/call":
                self.violations.append(f"{where}: resultType 'task' on {method}, which cannot create tasks")
            self._check(self.ext, "CreateTaskResult", result, where)
        elif rtype == "input_required":
            self._check(self.core, "InputRequiredResult", result, where)
        elif method in EXT_RESULTS:
            self._check(self.ext, EXT_RESULTS[method], result, where)
        elif method in CORE_RESULTS:
            self._check(self.core, CORE_RESULTS[method], result, where)
        else:
            self._check(self.core, "Result", result, where)

    def notification(self, method: str, msg: Any) -> None:
        where = f"notification on {method}"
        name = msg.get("method") if isinstance(msg, dict) else None
        if name == "notifications/tasks":
            self._check(self.ext, "TaskStatusNotification", msg, where)
        elif name == "notifications/subscriptions/acknowledged":
            self._check(self.core, "SubscriptionsAcknowledgedNotification", msg, where)
        else:
            self._check(self.core, "JSONRPCNotification", msg, where)


# --------------------------------------------------------------------------------------------------
# A simulated client: fixed capabilities folded into every request
# --------------------------------------------------------------------------------------------------


class Client:
    def __init__(self, url: str, http: httpx2.AsyncClient, wire: TasksWire, capabilities: dict[str, Any]) -> None:
        self.url, self.http, self.wire, self.capabilities = url, http, wire, capabilities

    def params(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """params plus the stateless `_meta` with this client's capabilities (keys in params._meta win)."""
        return with_meta(params, client_info=OWN_CLIENT_INFO, capabilities=self.capabilities)

    def headers(self, method: str, params: dict[str, Any], overrides: dict[str, str] | None = None) -> dict[str, str]:
        return std_headers(method, params, overrides, names=TASK_NAME_PARAMS)

    async def send(self, method: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Reply:
        """One request over the plain client; every message of the answer is validated (TasksWire)."""
        params = self.params(params)
        reply = await post(self.http, self.url, method, params, headers=self.headers(method, params, headers), timeout=REQUEST_SECONDS)
        timed_out = " (timed out)" if reply.timed_out else ""
        if "text/event-stream" in reply.content_type:
            for msg in reply.events:
                if isinstance(msg, dict) and "id" in msg and ("result" in msg or "error" in msg):
                    self.wire.response(method, reply.status, msg)
                else:
                    self.wire.notification(method, msg)
            if not (isinstance(reply.body, dict) and reply.body.get("id") == reply.rid):
                raise AssertionError(f"{method}: SSE stream ended without the response to id {reply.rid}{timed_out}")
            return reply
        if reply.body is None:
            raise AssertionError(f"{method}: HTTP {reply.status} {reply.content_type!r}, not JSON: {reply.text[:300]!r}{timed_out}")
        self.wire.response(method, reply.status, reply.body)
        if isinstance(reply.body, dict) and reply.body.get("id") not in (reply.rid, None):
            self.wire.violations.append(f"{method}: response id {reply.body.get('id')!r} != request id {reply.rid}")
        return reply

    async def request(self, method: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """The result, or RpcError for a JSON-RPC error (like the suite's connection)."""
        return result_of(method, await self.send(method, params, headers))

    async def wait_status(self, task_id: str, status: str | None = None, timeout: float = POLL_SECONDS) -> dict[str, Any]:
        """Polls tasks/get every 200 ms until the task is terminal (or has `status`); fails after `timeout`."""
        with anyio.move_on_after(timeout):
            while True:
                task = await self.request("tasks/get", {"taskId": task_id})
                if task.get("status") in TERMINAL or (status is not None and task.get("status") == status):
                    return task
                await anyio.sleep(0.2)
        raise AssertionError(f"task {task_id} did not reach {status or 'a terminal status'} within {timeout:.0f} s")

    async def wait_terminal(self, task_id: str, timeout: float = POLL_SECONDS) -> dict[str, Any]:
        return await self.wait_status(task_id, None, timeout)

    async def cancel_quietly(self, task_id: str | None) -> None:
        if task_id:
            with contextlib.suppress(Exception):
                await self.request("tasks/cancel", {"taskId": task_id})


# --------------------------------------------------------------------------------------------------
# Checks: every check of a scenario runs; the test fails listing the ones that did not hold
# --------------------------------------------------------------------------------------------------


class Checks:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def fail(self, check: str, text: str) -> None:
        self.failures.append(f"[{check}] {text}")

    def expect(self, ok: Any, check: str, text: str) -> None:
        if not ok:
            self.fail(check, text)

    @contextlib.contextmanager
    def step(self, check: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # an exchange that failed (error, timeout, bad shape) fails this check only
            self.fail(check, f"{type(exc).__name__}: {exc}")

    def expect_ack(self, check: str, ack: dict[str, Any], what: str) -> None:
        """An acknowledgement: resultType 'complete' and none of the task's own fields."""
        self.expect(ack.get("resultType") == "complete", check, f"{what} resultType {ack.get('resultType')!r}")
        extra = [f for f in TASK_ENVELOPE if f in ack]
        self.expect(not extra, check, f"{what} carries task fields {extra}")

    def untestable(self, check: str) -> None:
        self.fail(check, "not testable: no task was created by the preceding step")

    def done(self) -> None:
        if self.failures:
            pytest.fail(f"{len(self.failures)} check(s) failed:\n" + "\n".join(f"  - {f}" for f in self.failures), pytrace=False)


class Env:
    def __init__(self, url: str, http: httpx2.AsyncClient, wire: TasksWire) -> None:
        self.url, self.http, self.wire = url, http, wire

    def client(self, capabilities: dict[str, Any]) -> Client:
        return Client(self.url, self.http, self.wire, capabilities)


@pytest.fixture
async def tasks(conformance):
    """Plain HTTP to the conformance server plus our own validation (core + tasks extension schemas); fails the test
    at teardown on any schema violation in what the server sent."""
    wire = TasksWire()
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(REQUEST_SECONDS)) as http:
        yield Env(conformance.url, http, wire)
    if wire.violations:
        pytest.fail(
            f"{len(wire.violations)} schema violation(s) in what the server sent:\n" + "\n".join(f"  - {v}" for v in wire.violations),
            pytrace=False,
        )


def content_of(result: Any) -> list[Any] | None:
    content = result.get("content") if isinstance(result, dict) else None
    return content if isinstance(content, list) else None


def first_text(result: Any) -> str:
    content = content_of(result) or []
    first = content[0] if content else None
    return first.get("text", "") if isinstance(first, dict) and isinstance(first.get("text"), str) else ""


# --------------------------------------------------------------------------------------------------
# The scenarios
# --------------------------------------------------------------------------------------------------


@pytest.mark.scenario("tasks-lifecycle", version=VERSION, scored=False)
async def test_tasks_lifecycle(tasks):
    c, s = Checks(), tasks.client(FULL)

    check = "tasks-sync-tool-call"
    with c.step(check):
        r = await s.request("tools/call", {"name": "greet", "arguments": {"name": "World"}})
        c.expect(r.get("resultType") != "task", check, "sync tool answered with resultType 'task'")
        c.expect(not r.get("taskId"), check, f"sync tool result carries taskId {r.get('taskId')!r}")
        c.expect(content_of(r), check, f"sync tool result without a non-empty content array: {r!r}")

    working: str | None = None
    check = "sep-2663-result-type-task-on-create"
    with c.step(check):
        r = await s.request("tools/call", {"name": "slow_compute", "arguments": {"seconds": 2, "label": "lifecycle-create"}})
        c.expect(r.get("resultType") == "task", check, f"expected resultType 'task', got {r.get('resultType')!r}")
        c.expect("task" not in r, check, "CreateTaskResult has a nested 'task' member (must be flat)")
        c.expect(r.get("taskId"), check, "CreateTaskResult without a top-level taskId")
        c.expect(r.get("status"), check, "CreateTaskResult without a top-level status")
        for field in ("result", "error", "inputRequests"):
            c.expect(field not in r, check, f"CreateTaskResult carries {field!r} (belongs on tasks/get)")
        for field in ("createdAt", "lastUpdatedAt"):
            value = r.get(field)
            c.expect(isinstance(value, str) and ISO_8601.match(value), check, f"{field} is not an ISO-8601 string: {value!r}")
        working = r.get("taskId") or None

    check = "sep-2663-tasks-get-status-working"
    if not working:
        c.untestable(check)
    else:
        with c.step(check):
            task = await s.request("tasks/get", {"taskId": working})
            c.expect(task.get("taskId") == working, check, f"tasks/get taskId {task.get('taskId')!r} != {working!r}")
            c.expect(task.get("status"), check, "tasks/get without status")

    check = "sep-2663-tasks-get-status-completed"
    if not working:
        c.untestable(check)
    else:
        with c.step(check):
            done = await s.wait_terminal(working)
            c.expect(done.get("status") == "completed", check, f"expected status 'completed', got {done.get('status')!r}")
            result = done.get("result")
            c.expect(isinstance(result, dict), check, "completed task without an inlined result")
            c.expect(content_of(result), check, f"completed task result without a non-empty content array: {result!r}")

    check = "sep-2663-tool-error-uses-completed-status"
    with c.step(check):
        created = await s.request("tools/call", {"name": "failing_job", "arguments": {}})
        if not created.get("taskId"):
            c.fail(check, f"failing_job did not create a task: {created!r}")
        else:
            done = await s.wait_terminal(created["taskId"])
            c.expect(done.get("status") == "completed", check, f"a tool error must end 'completed', got {done.get('status')!r}")
            result = done.get("result")
            c.expect(isinstance(result, dict), check, "completed task with a tool error carries no result")
            c.expect(isinstance(result, dict) and result.get("isError") is True, check, f"result.isError is not true: {result!r}")

    check = "sep-2663-tasks-get-status-failed"
    with c.step(check):
        created = await s.request("tools/call", {"name": "protocol_error_job", "arguments": {}})
        if not created.get("taskId"):
            c.fail(check, f"protocol_error_job did not create a task: {created!r}")
        else:
            done = await s.wait_terminal(created["taskId"])
            c.expect(done.get("status") == "failed", check, f"a protocol error must end 'failed', got {done.get('status')!r}")
            error = done.get("error")
            if not isinstance(error, dict):
                c.fail(check, "failed task without an inlined error")
            else:
                c.expect(isinstance(error.get("code"), int), check, f"error.code is not a number: {error!r}")
                c.expect(isinstance(error.get("message"), str), check, f"error.message is not a string: {error!r}")
            c.expect(not done.get("result"), check, "failed task carries a result")

    check = "sep-2663-cancel-ack-empty-result"
    with c.step(check):
        created = await s.request("tools/call", {"name": "slow_compute", "arguments": {"seconds": 60, "label": "lifecycle-cancel"}})
        if not created.get("taskId"):
            c.fail(check, "slow_compute did not create a task")
        else:
            c.expect_ack(check, await s.request("tasks/cancel", {"taskId": created["taskId"]}), "cancel ack")
            await s.wait_terminal(created["taskId"])  # the scenario waits for a terminal status (any)

    check = "tasks-cancel-terminal-idempotent-ack"
    with c.step(check):
        created = await s.request("tools/call", {"name": "slow_compute", "arguments": {"seconds": 1, "label": "lifecycle-cancel-terminal"}})
        if not created.get("taskId"):
            c.fail(check, "slow_compute did not create a task")
        else:
            await s.wait_terminal(created["taskId"])
            c.expect_ack(check, await s.request("tasks/cancel", {"taskId": created["taskId"]}), "cancel ack on a terminal task")
    c.done()


@pytest.mark.scenario("tasks-capability-negotiation", version=VERSION, scored=False)
async def test_tasks_capability_negotiation(tasks):
    c = Checks()
    with_ext = tasks.client({"elicitation": {}, "sampling": {}, "extensions": {TASKS_EXT: {}}})
    without_ext = tasks.client({})

    check = "tasks-extension-advertised"
    with c.step(check):
        caps = (await with_ext.request("server/discover")).get("capabilities") or {}
        c.expect("tasks" not in caps or not caps.get("tasks"), check, "a v1-style capabilities.tasks slot is advertised")
        extensions = caps.get("extensions")
        c.expect(isinstance(extensions, dict), check, "no capabilities.extensions advertised")
        c.expect(isinstance(extensions, dict) and extensions.get(TASKS_EXT) is not None, check, f"capabilities.extensions has no {TASKS_EXT!r}")

    check = "sep-2663-tasks-methods-non-declaring"
    for method, params in (
        ("tasks/get", {"taskId": "gate-test"}),
        ("tasks/update", {"taskId": "gate-test", "inputResponses": {}}),
        ("tasks/cancel", {"taskId": "gate-test"}),
    ):
        with c.step(check):
            try:
                await without_ext.request(method, params)
                c.fail(check, f"{method} from a client without the extension returned a result")
            except RpcError as e:
                c.expect(e.code == -32021, check, f"{method} without the extension: expected -32021, got {e.code}")

    check = "sep-2663-server-rejects-undeclared-client"
    with c.step(check):
        r = await without_ext.request("tools/call", {"name": "slow_compute", "arguments": {"seconds": 0, "label": "capability-no-ext"}})
        c.expect(r.get("resultType") != "task", check, "tools/call without the extension returned resultType 'task'")
        c.expect(not r.get("taskId"), check, f"tools/call without the extension carries taskId {r.get('taskId')!r}")
        c.expect(not r.get("task"), check, "tools/call without the extension carries a nested 'task'")
        c.expect(r.get("content"), check, f"tools/call without the extension: no content (not a sync tool result): {r!r}")

    check = "tasks-per-request-meta-opt-in"
    with c.step(check):
        r = await without_ext.request(
            "tools/call",
            {
                "name": "slow_compute",
                "arguments": {"seconds": 1, "label": "capability-meta-opt"},
                "_meta": {"io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS_EXT: {}}}},
            },
        )
        c.expect(r.get("resultType") == "task", check, f"per-request opt-in: expected resultType 'task', got {r.get('resultType')!r}")
        c.expect(r.get("taskId"), check, "per-request opt-in: no top-level taskId")
        c.expect(not r.get("task"), check, "per-request opt-in: nested 'task' member")
        await with_ext.cancel_quietly(r.get("taskId"))
    c.done()


@pytest.mark.scenario("tasks-wire-fields", version=VERSION, scored=False)
async def test_tasks_wire_fields(tasks):
    c, s = Checks(), tasks.client(EXT_ONLY)

    created_id: str | None = None
    check = "tasks-wire-field-renames"
    with c.step(check):
        r = await s.request("tools/call", {"name": "slow_compute", "arguments": {"seconds": 1, "label": "wire-fields"}})
        created_id = r.get("taskId") or None
        if "ttlMs" not in r:
            c.fail(check, "CreateTaskResult without ttlMs")
        else:
            ttl = r["ttlMs"]
            c.expect(ttl is None or (type(ttl) is int and ttl > 0), check, f"ttlMs is neither null nor a positive integer: {ttl!r}")
        c.expect("ttl" not in r, check, "CreateTaskResult carries the v1 'ttl' key")
        if "pollIntervalMs" in r:
            poll = r["pollIntervalMs"]
            c.expect(type(poll) is int and poll > 0, check, f"pollIntervalMs is not a positive integer: {poll!r}")
        c.expect("pollInterval" not in r, check, "CreateTaskResult carries the v1 'pollInterval' key")

    check = "tasks-no-early-ttl-expiry"
    if not created_id:
        c.untestable(check)
    else:
        with c.step(check):
            await s.wait_terminal(created_id)
            await anyio.sleep(0.5)
            after = await s.request("tasks/get", {"taskId": created_id})
            c.expect(after.get("taskId") == created_id, check, f"task no longer served before its TTL: {after!r}")

    check = "tasks-no-related-task-meta-on-inlined-result"
    with c.step(check):
        r = await s.request("tools/call", {"name": "slow_compute", "arguments": {"seconds": 1, "label": "wire-fields-meta"}})
        if not r.get("taskId"):
            c.untestable(check)
        else:
            done = await s.wait_terminal(r["taskId"])
            meta = (done.get("result") or {}).get("_meta") if isinstance(done.get("result"), dict) else None
            c.expect(not (isinstance(meta, dict) and meta.get("io.modelcontextprotocol/related-task")), check,
                     "inlined result _meta carries io.modelcontextprotocol/related-task")
    c.done()


@pytest.mark.scenario("tasks-request-state-removal", version=VERSION, scored=False)
async def test_tasks_request_state_removal(tasks):
    c, s = Checks(), tasks.client(EXT_ONLY)

    check = "tasks-request-state-removal-setup"
    created: dict[str, Any] = {}
    with c.step(check):
        created = await s.request("tools/call", {"name": "slow_compute", "arguments": {"seconds": 60, "label": "request-state-removal"}})
    task_id = created.get("taskId")
    if not task_id:
        if created:  # (an exchange that failed is already recorded)
            c.fail(check, f"slow_compute did not return a CreateTaskResult: {created!r}")
        c.done()
        return

    c.expect("requestState" not in created, "tasks-create-result-no-request-state",
             f"CreateTaskResult carries requestState {created.get('requestState')!r}")

    check = "tasks-get-detailed-no-request-state"
    with c.step(check):
        detailed = await s.request("tasks/get", {"taskId": task_id})
        c.expect("requestState" not in detailed, check,
                 f"tasks/get (status {detailed.get('status')!r}) carries requestState {detailed.get('requestState')!r}")
    await s.cancel_quietly(task_id)
    c.done()


@pytest.mark.scenario("tasks-mrtr-input", version=VERSION, scored=False)
async def test_tasks_mrtr_input(tasks):
    c, s = Checks(), tasks.client(FULL)

    check = "sep-2663-tasks-get-status-input-required"
    with c.step(check):
        created = await s.request("tools/call", {"name": "confirm_delete", "arguments": {"filename": "mrtr-input.txt"}})
        task_id = created.get("taskId")
        if not task_id:
            c.fail(check, "confirm_delete did not create a task")
        else:
            try:
                task = await s.wait_status(task_id, "input_required", 5.0)
                c.expect(task.get("status") == "input_required", check, f"expected status 'input_required', got {task.get('status')!r}")
                reqs = task.get("inputRequests")
                if not isinstance(reqs, dict):
                    c.fail(check, f"inputRequests is not an object: {reqs!r}")
                elif not reqs:
                    c.fail(check, "inputRequests is empty")
                else:
                    first = next(iter(reqs.values()))
                    c.expect(isinstance(first, dict) and first.get("method"), check, f"input request without a method: {first!r}")
            finally:
                await s.cancel_quietly(task_id)

    check = "tasks-mrtr-tasks-update-resumes"
    with c.step(check):
        created = await s.request("tools/call", {"name": "confirm_delete", "arguments": {"filename": "mrtr-resume.txt"}})
        task_id = created.get("taskId")
        if not task_id:
            c.fail(check, "confirm_delete did not create a task")
        else:
            waiting = await s.wait_status(task_id, "input_required", 5.0)
            answers = {key: {"action": "accept", "content": {"confirm": True}} for key in (waiting.get("inputRequests") or {})}
            c.expect_ack(check, await s.request("tasks/update", {"taskId": task_id, "inputResponses": answers}), "tasks/update ack")
            done = await s.wait_terminal(task_id)
            c.expect(done.get("status") == "completed", check, f"task did not resume to 'completed': {done.get('status')!r}")

    check = "tasks-mrtr-partial-fulfillment"
    with c.step(check):
        created = await s.request("tools/call", {"name": "multi_input", "arguments": {}})
        task_id = created.get("taskId")
        if not task_id:
            c.fail(check, "multi_input did not create a task")
        else:
            task: dict[str, Any] = {}
            with anyio.move_on_after(5.0):  # the two requests may appear one after the other
                while True:
                    task = await s.request("tasks/get", {"taskId": task_id})
                    if task.get("status") == "input_required" and len(task.get("inputRequests") or {}) >= 2:
                        break
                    await anyio.sleep(0.1)
            c.expect(task.get("status") == "input_required", check, f"expected 'input_required', got {task.get('status')!r}")
            keys = list(task.get("inputRequests") or {})
            if len(keys) < 2:
                c.fail(check, f"multi_input must surface 2 input requests, got {len(keys)}")
                await s.cancel_quietly(task_id)
            else:
                first, second = keys[0], keys[1]
                ack = await s.request("tasks/update", {
                    "taskId": task_id,
                    "inputResponses": {first: {"action": "accept", "content": {"name": "partial-1", "confirm": True}}},
                })
                c.expect(ack.get("resultType") == "complete", check, f"partial tasks/update ack: {ack!r}")
                after = await s.request("tasks/get", {"taskId": task_id})
                c.expect(after.get("status") == "input_required", check,
                         f"task left input_required with one input still pending: {after.get('status')!r}")
                remaining = list(after.get("inputRequests") or {})
                c.expect(second in remaining, check, f"the unanswered key {second!r} is gone: {remaining}")
                c.expect(first not in remaining, check, f"the answered key {first!r} is still pending")
                await s.request("tasks/update", {
                    "taskId": task_id,
                    "inputResponses": {second: {"action": "accept", "content": {"name": "partial-2", "confirm": True}}},
                })
                done = await s.wait_terminal(task_id)
                c.expect(done.get("status") == "completed", check, f"task did not complete after both inputs: {done.get('status')!r}")
    c.done()


@pytest.mark.scenario("tasks-request-headers", version=VERSION, scored=False)
async def test_tasks_request_headers(tasks):
    c, s = Checks(), tasks.client(EXT_ONLY)

    check = "tasks-headers-tolerate-mcp-method-on-tools-call"
    with c.step(check):
        r = await s.request("tools/call", {"name": "greet", "arguments": {"name": "sep-2243"}}, {"Mcp-Method": "tools/call"})
        c.expect(r.get("resultType") == "complete", check, f"resultType {r.get('resultType')!r}, expected 'complete'")
        c.expect(first_text(r) == "Hello, sep-2243!", check, f"greet text {first_text(r)!r}, expected 'Hello, sep-2243!'")

    task_id: str | None = None
    check = "sep-2663-routing-headers-accepted-on-tasks-get"
    with c.step(check):
        created = await s.request("tools/call", {"name": "slow_compute", "arguments": {"seconds": 60, "label": "headers-tasks-get"}})
        task_id = created.get("taskId") or None
        if not task_id:
            c.fail(check, "slow_compute did not create a task")
        else:
            got = await s.request("tasks/get", {"taskId": task_id}, {"Mcp-Method": "tasks/get", "Mcp-Name": task_id})
            c.expect(got.get("taskId") == task_id, check, f"tasks/get answered for {got.get('taskId')!r}, expected {task_id!r}")
            c.expect(got.get("status"), check, "tasks/get without status")

    check = "tasks-headers-reject-mismatched-method"
    with c.step(check):
        try:
            await s.request("tools/call", {"name": "greet", "arguments": {"name": "header-mismatch"}}, {"Mcp-Method": "tasks/get"})
            c.fail(check, "tools/call with Mcp-Method: tasks/get succeeded; expected -32020")
        except RpcError as e:
            c.expect(e.code == -32020, check, f"expected -32020 HeaderMismatch, got {e.code}")

    check = "sep-2663-server-rejects-mismatched-mcp-name-on-tasks-get"
    if not task_id:
        c.fail(check, "no task from the previous check to probe with")
    else:
        with c.step(check):
            try:
                await s.request("tasks/get", {"taskId": task_id}, {"Mcp-Name": "sep-2663-wrong-task-id-for-routing-header-mismatch"})
                c.fail(check, "tasks/get with a mismatched Mcp-Name returned a result; expected -32020")
            except RpcError as e:
                c.expect(e.code == -32020, check, f"expected -32020 HeaderMismatch, got {e.code}")
    await s.cancel_quietly(task_id)
    c.done()


@pytest.mark.scenario("tasks-dispatch-and-envelope", version=VERSION, scored=False)
async def test_tasks_dispatch_and_envelope(tasks):
    c, s = Checks(), tasks.client(FULL)

    for check, method, params in (
        ("sep-2663-tasks-result-removed-method-not-found", "tasks/result", {"taskId": "tasks-conformance-isolation-probe"}),
        ("tasks-removed-tasks-list", "tasks/list", {}),
    ):
        with c.step(check):
            try:
                await s.request(method, params)
                c.fail(check, f"{method} returned a result; it is removed and must be -32601")
            except RpcError as e:
                c.expect(e.code == -32601, check, f"{method}: expected -32601, got {e.code}")

    check = "tasks-server-directed-creation-no-hint"
    with c.step(check):
        r = await s.request("tools/call", {"name": "failing_job", "arguments": {}})
        c.expect(r.get("resultType") == "task" and r.get("taskId"), check,
                 f"expected a CreateTaskResult without any client hint, got resultType {r.get('resultType')!r}, taskId {r.get('taskId')!r}")
        if r.get("taskId"):
            with contextlib.suppress(Exception):
                await s.wait_terminal(r["taskId"])

    check = "sep-2663-legacy-task-param-ignored"
    with c.step(check):
        r = await s.request("tools/call", {"name": "greet", "arguments": {"name": "legacy-hint"}, "task": {"ttl": 60000, "pollInterval": 100}})
        c.expect(r.get("resultType") != "task", check, "a v1 'task' param promoted a sync tool to a task")
        c.expect(not r.get("taskId"), check, f"sync tool with a v1 'task' param carries taskId {r.get('taskId')!r}")
        c.expect(content_of(r), check, f"sync tool with a v1 'task' param: no content: {r!r}")

    check = "tasks-immediate-result-shortcut"
    with c.step(check):
        r = await s.request("tools/call", {"name": "slow_compute", "arguments": {"seconds": 0, "label": "instant"}})
        if r.get("resultType") == "task":
            c.expect(r.get("taskId"), check, "CreateTaskResult without a taskId")
        else:
            c.expect(content_of(r) is not None, check, f"sync result without a content array: {r!r}")

    check = "tasks-result-type-complete-on-non-task-responses"
    with c.step(check):
        r = await s.request("tools/call", {"name": "greet", "arguments": {"name": "rt"}})
        c.expect(r.get("resultType") == "complete", check, f"sync tools/call resultType {r.get('resultType')!r}")
        created = await s.request("tools/call", {"name": "slow_compute", "arguments": {"seconds": 0, "label": "rt-get"}})
        if created.get("taskId"):
            await s.wait_terminal(created["taskId"])
            got = await s.request("tasks/get", {"taskId": created["taskId"]})
            c.expect(got.get("resultType") == "complete", check, f"tasks/get resultType {got.get('resultType')!r}")
        long_lived = await s.request("tools/call", {"name": "slow_compute", "arguments": {"seconds": 60, "label": "rt-cancel"}})
        if long_lived.get("taskId"):
            ack = await s.request("tasks/cancel", {"taskId": long_lived["taskId"]})
            c.expect(ack.get("resultType") == "complete", check, f"tasks/cancel ack resultType {ack.get('resultType')!r}")
        parked = await s.request("tools/call", {"name": "confirm_delete", "arguments": {"filename": "rt.txt"}})
        if parked.get("taskId"):
            try:
                await s.wait_status(parked["taskId"], "input_required", 5.0)
                # an unknown key (and an odd value) is to be ignored, the update still acknowledged
                ack = await s.request("tasks/update", {"taskId": parked["taskId"], "inputResponses": {"unknown-key": {"ignored": True}}})
                c.expect(ack.get("resultType") == "complete", check, f"tasks/update ack resultType {ack.get('resultType')!r}")
            finally:
                await s.cancel_quietly(parked["taskId"])

    check = "sep-2663-durable-create-strong-consistency"
    with c.step(check):
        created = await s.request("tools/call", {"name": "slow_compute", "arguments": {"seconds": 60, "label": "consistency"}})
        task_id = created.get("taskId")
        if not task_id:
            c.fail(check, "slow_compute did not create a task")
        else:
            try:
                got = await s.request("tasks/get", {"taskId": task_id})  # at once: the task must already be durable
                c.expect(got.get("taskId") == task_id, check, f"immediate tasks/get answered for {got.get('taskId')!r}")
            finally:
                await s.cancel_quietly(task_id)

    check = "sep-2663-tasks-get-invalid-task-id-32602"
    with c.step(check):
        try:
            await s.request("tasks/get", {"taskId": "tasks-conformance-nonexistent-12345"})
            c.fail(check, "tasks/get for an unknown taskId returned a result")
        except RpcError as e:
            c.expect(e.code == -32602, check, f"tasks/get for an unknown taskId: expected -32602, got {e.code}")
    c.done()


@pytest.mark.scenario("tasks-status-notifications", version=VERSION, scored=False)
async def test_tasks_status_notifications(tasks):
    """The suite currently reports this scenario as SKIPPED (its harness awaits a subscriptions/listen rewrite); this
    test checks what the scenario states: notifications/tasks are optional, and when sent on the listen stream for a
    subscribed task they carry that taskId and a valid status (and the extension's TaskStatusNotification shape)."""
    c, s = Checks(), tasks.client(EXT_ONLY)
    check = "tasks-status-notifications"

    task_id: str | None = None
    with c.step(check):
        created = await s.request("tools/call", {"name": "slow_compute", "arguments": {"seconds": 1, "label": "notifications"}})
        task_id = created.get("taskId") or None
        c.expect(task_id, check, f"slow_compute did not create a task: {created!r}")
    if not task_id:
        c.done()
        return

    seen: list[dict[str, Any]] = []
    with c.step(check):
        params = s.params({"notifications": {"taskIds": [task_id]}})
        with anyio.move_on_after(6.0):
            body, headers = rpc_request("subscriptions/listen", params), s.headers("subscriptions/listen", params)
            async with s.http.stream("POST", s.url, json=body, headers=headers) as r:
                ctype = r.headers.get("content-type", "")
                if not ctype.startswith("text/event-stream"):
                    msg = json.loads(await r.aread())
                    s.wire.response("subscriptions/listen", r.status_code, msg)
                    c.fail(check, f"subscriptions/listen with taskIds did not open a stream: HTTP {r.status_code} {msg!r}")
                else:
                    async for msg in sse_events(r):
                        if isinstance(msg, dict) and "id" in msg:
                            s.wire.response("subscriptions/listen", r.status_code, msg)
                            break  # the listen ended
                        s.wire.notification("subscriptions/listen", msg)
                        method = msg.get("method") if isinstance(msg, dict) else None
                        if method == "notifications/tasks":
                            seen.append(msg.get("params") or {})
                            if (msg.get("params") or {}).get("status") in TERMINAL:
                                break
                        elif method != "notifications/subscriptions/acknowledged":
                            c.fail(check, f"notification not asked for on this listen stream: {method!r}")
    for params in seen:
        c.expect(params.get("taskId") == task_id, check, f"notifications/tasks for {params.get('taskId')!r}, subscribed {task_id!r}")
        c.expect(params.get("status") in STATUSES, check, f"notifications/tasks with status {params.get('status')!r}")
    c.done()


@pytest.mark.scenario("tasks-required-task-error", version=VERSION, scored=False)
async def test_tasks_required_task_error(tasks):
    c, s = Checks(), tasks.client({})  # deliberately no capabilities at all
    check = "sep-2663-server-returns-missing-capability-when-required"
    error: RpcError | None = None
    with c.step(check):
        try:
            await s.request("tools/call", {"name": "failing_job", "arguments": {}})
            c.fail(check, f"failing_job (task support required) answered a client without {TASKS_EXT} with a result")
        except RpcError as e:
            error = e
            c.expect(e.code == -32021, check, f"expected -32021 Missing Required Client Capability, got {e.code}")
    if error is not None and error.code == -32021 and error.data is not None:
        data = error.data
        required = data.get("requiredCapabilities") if isinstance(data, dict) else None
        extensions = required.get("extensions") if isinstance(required, dict) else None
        c.expect(isinstance(extensions, dict) and TASKS_EXT in extensions, "sep-2663-server-returns-missing-capability-data-shape",
                 f"error data lacks requiredCapabilities.extensions[{TASKS_EXT!r}]: {data!r}")
    c.done()


@pytest.mark.scenario("tasks-mrtr-composition", version=VERSION, scored=False)
async def test_tasks_mrtr_composition(tasks):
    c, s = Checks(), tasks.client({"elicitation": {}, "extensions": {TASKS_EXT: {}}})
    check = "sep-2663-mrtr-synchronous-before-task-creation"
    with c.step(check):
        r1 = await s.request("tools/call", {"name": "test_tool_with_task", "arguments": {}})
        c.expect(r1.get("resultType") == "input_required", check, f"round 1 is not an InputRequiredResult: {r1!r}")
        c.expect("taskId" not in r1, check, "round 1 (MRTR) carries taskId")
        key = next(iter(r1.get("inputRequests") or {}), None)
        c.expect(key, check, "round 1 has no inputRequests to answer")
        if key:
            retry: dict[str, Any] = {"name": "test_tool_with_task", "arguments": {},
                                     "inputResponses": {key: {"action": "accept", "content": {"name": "Alice"}}}}
            if "requestState" in r1:
                retry["requestState"] = r1["requestState"]
            r2 = await s.request("tools/call", retry)
            c.expect(r2.get("resultType") == "task", check, f"round 2 is not a CreateTaskResult: resultType {r2.get('resultType')!r}")
            c.expect(r2.get("taskId"), check, "round 2 CreateTaskResult without a taskId")
            c.expect("requestState" not in r2, check, "round 2 CreateTaskResult carries requestState")
            c.expect("inputRequests" not in r2, check, "round 2 CreateTaskResult carries inputRequests")
            if r2.get("taskId"):
                done = await s.wait_terminal(r2["taskId"])
                c.expect(done.get("status") == "completed", check, f"final status {done.get('status')!r}, expected 'completed'")
                text = first_text(done.get("result"))
                c.expect("Alice" in text, check, f"final result does not reflect the name from the MRTR round: {text!r}")
    c.done()
