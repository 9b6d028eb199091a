"""The tasks extension (`io.modelcontextprotocol/tasks`, protocol 2026-07-28) across replicas, raw HTTP: a task
created through nginx runs on the replica that answered the `tools/call` (nginx's `X-Upstream`); `tasks/get`,
`tasks/update`, `tasks/cancel` and the `subscriptions/listen` streams that carry `notifications/tasks` are then
sent to the other replicas, pinned by their own ports, and through nginx (round robin: every replica serves some).

The demo tool is `long-job {steps, intervalMs, confirm}`: each step sets `statusMessage` to `step <n> of <steps>`;
with `confirm: true` the task parks in `input_required` after the first step on one elicitation keyed `continue`;
its result text is `done: <steps>` (or `declined`).

Every request is checked against the schemas before it is sent (the core 2026-07-28 schema, and the extension's for
`tasks/*` and the listen filter's `taskIds`). Everything the replicas send goes through the interop suite's
validating tee (`interop_wire.WireRecorder`: core schema, response ids, listen acknowledgement first, subscription
ids, HTTP 400 for -32020/-32021, ...) extended by `TasksWire`: task shapes (`CreateTaskResult`, `GetTaskResult`,
`UpdateTaskResult`, `CancelTaskResult`, `TaskStatusNotification`, the acknowledged `taskIds`) are judged against the
extension's schema (Tests/fixtures/schema/extensions/tasks/schema.json), plus a few rules the schema cannot express
(ISO 8601 timestamps, the status-specific members, `notifications/tasks` only on a listen stream that asked for
that task). A test fails on any violation in what the servers sent during it.
"""

from __future__ import annotations

import contextlib

import base64
import functools
import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from conformance_wire import parse_sse, sse_events  # Tests/interop (on sys.path through conftest.py)
from interop_wire import (
    META_SERVER_INFO, META_SUBSCRIPTION_ID, MODERN, Exchange, Recorded, SchemaValidator, WireRecorder, make_tee_transport,
)
from test_http_sse_raw import report_validated  # Tests/interop

pytestmark = pytest.mark.anyio

HERE = Path(__file__).resolve().parent
SCHEMA_ROOT = HERE.parents[1] / "Tests" / "fixtures" / "schema"
CORE_SCHEMA = SCHEMA_ROOT / MODERN / "schema.json"
EXT_SCHEMA = SCHEMA_ROOT / "extensions" / "tasks" / "schema.json"

TASKS_EXT = "io.modelcontextprotocol/tasks"
PV = "io.modelcontextprotocol/protocolVersion"
CI = "io.modelcontextprotocol/clientInfo"
CC = "io.modelcontextprotocol/clientCapabilities"
CLIENT_INFO = {"name": "swift-mcp-cluster-tasks", "version": "1.0.0"}
WITH_TASKS = {"extensions": {TASKS_EXT: {}}}
WITH_TASKS_AND_ELICITATION = {"elicitation": {}, "extensions": {TASKS_EXT: {}}}
WITHOUT_TASKS = {"elicitation": {}}

TERMINAL = ("completed", "failed", "cancelled")
TASK_FIELDS = ("taskId", "status", "statusMessage", "createdAt", "lastUpdatedAt", "ttlMs", "pollIntervalMs")
STATUS_PAYLOAD = {"completed": "result", "failed": "error", "input_required": "inputRequests"}
ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
STEP = re.compile(r"^step (\d+) of (\d+)$")
TEST_SECONDS = 14.0  # bound on each test's body (the brief: well under 15 s)

# Result definitions of the extension's methods (extension schema); tools/call may answer CreateTaskResult.
EXT_RESULTS = {"tasks/get": "GetTaskResult", "tasks/update": "UpdateTaskResult", "tasks/cancel": "CancelTaskResult"}
EXT_REQUESTS = {"tasks/get": "GetTaskRequest", "tasks/update": "UpdateTaskRequest", "tasks/cancel": "CancelTaskRequest"}
CORE_REQUESTS = {"tools/call": "CallToolRequest", "subscriptions/listen": "SubscriptionsListenRequest"}


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not ISO_8601.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _declares_tasks(body: Any) -> bool:
    meta = ((body or {}).get("params") or {}).get("_meta") or {} if isinstance(body, dict) else {}
    caps = meta.get(CC) if isinstance(meta, dict) else None
    return isinstance(caps, dict) and isinstance(caps.get("extensions"), dict) and TASKS_EXT in caps["extensions"]


# --------------------------------------------------------------------------------------------------
# Validation of everything the replicas send: the core tee plus the extension's shapes
# --------------------------------------------------------------------------------------------------


@functools.cache
def _validator(path: Path) -> SchemaValidator:
    return SchemaValidator(path)  # (thread-safe, and slow to build: one per schema file)


class TasksWire(WireRecorder):
    """The interop suite's `WireRecorder` (core 2026-07-28 schema and protocol rules) with the task shapes judged
    against the extension's schema instead of being flagged as unknown."""

    def __init__(self) -> None:
        super().__init__(_validator(CORE_SCHEMA), SCHEMA_ROOT)
        self.ext = _validator(EXT_SCHEMA)

    def _ext(self, ex: Any, definition: str, instance: Any, whole: Any) -> None:
        errs = self.ext.errors(definition, instance)
        with self._lock:
            key = f"tasks:{definition}"
            self.by_definition[key] = self.by_definition.get(key, 0) + 1
        for e in errs:
            self.violation(ex, "schema (tasks extension): " + e, whole)

    def _task_rules(self, ex: Any, task: dict[str, Any], whole: Any, shape: str) -> None:
        """What the schema cannot say about a task object (a CreateTaskResult, a GetTaskResult, a notification's
        params)."""
        created, updated = _iso(task.get("createdAt")), _iso(task.get("lastUpdatedAt"))
        if created is None:
            self.violation(ex, f"{shape}: createdAt {task.get('createdAt')!r} is not an ISO 8601 timestamp", whole)
        if updated is None:
            self.violation(ex, f"{shape}: lastUpdatedAt {task.get('lastUpdatedAt')!r} is not an ISO 8601 timestamp", whole)
        if created and updated and (created.tzinfo is None) == (updated.tzinfo is None) and updated < created:
            self.violation(ex, f"{shape}: lastUpdatedAt {task['lastUpdatedAt']} is before createdAt {task['createdAt']}", whole)
        ttl = task.get("ttlMs")
        if ttl is not None and (not isinstance(ttl, int) or ttl < 0):
            self.violation(ex, f"{shape}: ttlMs {ttl!r} is neither null nor a non-negative integer", whole)
        poll = task.get("pollIntervalMs")
        if poll is not None and (not isinstance(poll, int) or poll <= 0):
            self.violation(ex, f"{shape}: pollIntervalMs {poll!r} is not a positive integer", whole)
        status = task.get("status")
        for st, member in STATUS_PAYLOAD.items():
            if shape == "CreateTaskResult":
                if member in task:
                    self.violation(ex, f"CreateTaskResult carries {member!r} (it belongs on tasks/get)", whole)
            elif status == st and member not in task:
                self.violation(ex, f"{shape}: status {st!r} without {member!r}", whole)
            elif status != st and member in task:
                self.violation(ex, f"{shape}: {member!r} with status {status!r} (only with {st!r})", whole)
        if status == "input_required" and shape != "CreateTaskResult" and not task.get("inputRequests"):
            self.violation(ex, f"{shape}: input_required with no outstanding inputRequests", whole)
        result = task.get("result")
        if status == "completed" and isinstance(result, dict):
            # The tool's CallToolResult, as the request would have returned it (resultType may be left out).
            as_call = dict(result)
            as_call.setdefault("resultType", "complete")
            for e in self.validator.errors("CallToolResult", as_call):
                self.violation(ex, f"{shape}: result is not a CallToolResult: {e}", whole)

    def _result(self, ex: Any, msg: dict[str, Any], framing: str) -> None:
        result = msg.get("result")
        method = ex.rpc_method
        rtype = result.get("resultType") if isinstance(result, dict) else None
        if method not in EXT_RESULTS and rtype != "task":
            super()._result(ex, msg, framing)
            return
        self._schema(ex, "JSONRPCResultResponse", msg, msg)
        self._check_id(ex, msg)
        if ex.status != 200:
            self.violation(ex, f"result sent with HTTP {ex.status}, expected 200", msg)
        if rtype == "task":
            definition = "CreateTaskResult"
            if method != "tools/call":
                self.violation(ex, f"resultType 'task' answering {method}, which cannot create tasks", msg)
            if not _declares_tasks(ex.request_body):
                self.violation(ex, "CreateTaskResult for a request that did not declare the tasks extension", msg)
        else:
            definition = EXT_RESULTS[method]
            if rtype != "complete":
                self.violation(ex, f"{definition} with resultType {rtype!r}, expected 'complete'", msg)
        self._ext(ex, definition, result, msg)
        if isinstance(result, dict):
            meta = result.get("_meta")
            if not (isinstance(meta, dict) and isinstance(meta.get(META_SERVER_INFO), dict)):
                self.violation(ex, f"result has no _meta {META_SERVER_INFO}", msg)
            if definition in ("CreateTaskResult", "GetTaskResult"):
                self._task_rules(ex, result, msg, definition)
                asked = ((ex.request_body or {}).get("params") or {}).get("taskId")
                if definition == "GetTaskResult" and result.get("taskId") != asked:
                    self.violation(ex, f"tasks/get for {asked!r} answered with task {result.get('taskId')!r}", msg)
            else:  # an acknowledgement: nothing of the task's own
                extra = [f for f in (*TASK_FIELDS, "result", "error", "inputRequests") if f in result]
                if extra:
                    self.violation(ex, f"{definition} (an empty acknowledgement) carries task members {extra}", msg)
        self.recorded.append(Recorded(ex, "result", f"tasks:{definition}", msg, framing))

    def _notification(self, ex: Any, msg: dict[str, Any], framing: str) -> None:
        method = msg.get("method")
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        request_params = ((ex.request_body or {}).get("params") or {}) if isinstance(ex.request_body, dict) else {}
        asked = ((request_params.get("notifications") or {}).get("taskIds")) or []
        if method == "notifications/subscriptions/acknowledged":
            super()._notification(ex, msg, framing)
            granted = params.get("notifications") if isinstance(params.get("notifications"), dict) else {}
            self._ext(ex, "TaskSubscriptionAcknowledgedNotifications", granted, msg)
            for task_id in granted.get("taskIds") or []:
                if task_id not in asked:
                    self.violation(ex, f"acknowledged taskId {task_id!r} the listen request did not ask for", msg)
            return
        if method != "notifications/tasks":
            super()._notification(ex, msg, framing)
            return
        self._ext(ex, "TaskStatusNotification", msg, msg)
        if framing != "sse":
            self.violation(ex, "notification sent as a plain JSON body, not on an SSE stream", msg)
        meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
        if ex.rpc_method != "subscriptions/listen":
            self.violation(ex, f"notifications/tasks on the answer to {ex.rpc_method}, not on a listen stream", msg)
        else:
            earlier = [m for m in ex.messages[:-1] if isinstance(m, dict) and "method" in m]
            if not earlier:
                self.violation(ex, "first message on a listen stream is not notifications/subscriptions/acknowledged", msg)
            if meta.get(META_SUBSCRIPTION_ID) != ex.rpc_id:
                self.violation(ex, f"notifications/tasks _meta subscriptionId {meta.get(META_SUBSCRIPTION_ID)!r} != listen id {ex.rpc_id!r}", msg)
            if params.get("taskId") not in asked:
                self.violation(ex, f"notifications/tasks for task {params.get('taskId')!r}, which the stream did not ask for ({asked})", msg)
        self._task_rules(ex, params, msg, "notifications/tasks")
        self.recorded.append(Recorded(ex, "notification", "tasks:TaskStatusNotification", msg, framing))


# --------------------------------------------------------------------------------------------------
# A raw 2026-07-28 client: per-request _meta, the routing headers, each request schema-checked before it goes
# --------------------------------------------------------------------------------------------------

_ids = itertools.count(1)


@dataclass
class Reply:
    method: str
    served_by: str  # the replica that answered (X-Upstream through nginx, the port when pinned)
    status: int
    content_type: str
    body: Any  # the JSON-RPC response to the request
    messages: list[Any] = field(default_factory=list)

    @property
    def result(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and isinstance(self.body.get("result"), dict), f"{self.method}: expected a result, got HTTP {self.status}: {json.dumps(self.body)[:800]}"
        return self.body["result"]

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and isinstance(self.body.get("error"), dict), f"{self.method}: expected a JSON-RPC error, got HTTP {self.status}: {json.dumps(self.body)[:800]}"
        return self.body["error"]


@dataclass
class Listen:
    served_by: str = ""
    status: int = 0
    ack: dict[str, Any] | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)  # params of each notifications/tasks, in order
    messages: list[Any] = field(default_factory=list)
    request_id: int = 0


class Tasks:
    def __init__(self, cluster: Any, http: httpx2.AsyncClient, wire: TasksWire) -> None:
        self.cluster, self.http, self.wire = cluster, http, wire

    # -- requests -----------------------------------------------------------------------------------

    def payload(self, method: str, params: dict[str, Any], caps: dict[str, Any]) -> dict[str, Any]:
        p = dict(params)
        p["_meta"] = {PV: MODERN, CI: CLIENT_INFO, CC: caps}
        msg = {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": p}
        problems = self.wire.validator.errors("JSONRPCRequest", msg) + self.wire.validator.errors("RequestParams", p)
        if method in CORE_REQUESTS:
            problems += self.wire.validator.errors(CORE_REQUESTS[method], msg)
        if method in EXT_REQUESTS:
            problems += self.wire.ext.errors(EXT_REQUESTS[method], msg)
        if method == "subscriptions/listen":
            problems += self.wire.ext.errors("TaskSubscriptionNotifications", p.get("notifications"))
        assert not problems, "the test's own request is not schema-valid:\n  " + "\n  ".join(problems)
        return msg

    @staticmethod
    def headers(method: str, params: dict[str, Any], name: str | None = "default") -> dict[str, str]:
        h = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": MODERN,
            "Mcp-Method": method,
        }
        if name == "default":
            name = params.get("taskId") if method.startswith("tasks/") else params.get("name")
        if name is not None:
            h["Mcp-Name"] = name
        return h

    def served_by(self, target: Any, response_headers: Any) -> str:
        if target is not self.cluster.nginx:
            return target.name
        up = response_headers.get("x-upstream", "")
        last = up.split(",")[-1].strip()
        replica = self.cluster.by_port(int(last.rsplit(":", 1)[1])) if ":" in last else None
        assert replica is not None, f"nginx answered without a known X-Upstream ({up!r})"
        return replica.name

    async def send(
        self, target: Any, method: str, params: dict[str, Any], *, caps: dict[str, Any] = WITH_TASKS,
        name: str | None = "default",
    ) -> Reply:
        msg = self.payload(method, params, caps)
        r = await self.http.post(target.url, content=json.dumps(msg).encode(), headers=self.headers(method, params, name))
        ctype = r.headers.get("content-type", "")
        messages: list[Any] = []
        if "text/event-stream" in ctype:
            messages = parse_sse(r.text)
        elif r.content:
            messages = [r.json()]
        body = next((m for m in messages if isinstance(m, dict) and m.get("id") == msg["id"] and ("result" in m or "error" in m)), None)
        if body is None:  # an error without an id (HTTP-level refusals)
            body = next((m for m in messages if isinstance(m, dict) and "error" in m), None)
        return Reply(method, self.served_by(target, r.headers), r.status_code, ctype, body, messages)

    # -- the task methods ---------------------------------------------------------------------------

    async def create(self, target: Any, steps: int, interval_ms: int, confirm: bool | None = None,
                     caps: dict[str, Any] = WITH_TASKS) -> tuple[dict[str, Any], str]:
        """A long-job task; (CreateTaskResult, the replica that created it and runs it)."""
        arguments: dict[str, Any] = {"steps": steps, "intervalMs": interval_ms}
        if confirm is not None:
            arguments["confirm"] = confirm
        reply = await self.send(target, "tools/call", {"name": "long-job", "arguments": arguments}, caps=caps)
        created = reply.result
        assert created.get("resultType") == "task", f"long-job with the extension declared: expected a CreateTaskResult, got {created}"
        assert isinstance(created.get("taskId"), str) and created["taskId"], created
        assert created.get("status") in ("working", "input_required", *TERMINAL), created
        for member in ("createdAt", "lastUpdatedAt"):
            assert _iso(created.get(member)) is not None, f"{member} {created.get(member)!r} is not ISO 8601"
        assert "ttlMs" in created and (created["ttlMs"] is None or isinstance(created["ttlMs"], int)), created
        assert isinstance(created.get("pollIntervalMs"), int) and created["pollIntervalMs"] > 0, created
        return created, reply.served_by

    async def get(self, target: Any, task_id: str) -> tuple[dict[str, Any], str]:
        reply = await self.send(target, "tasks/get", {"taskId": task_id})
        return reply.result, reply.served_by

    async def update(self, target: Any, task_id: str, responses: dict[str, Any]) -> Reply:
        return await self.send(target, "tasks/update", {"taskId": task_id, "inputResponses": responses}, caps=WITH_TASKS_AND_ELICITATION)

    async def cancel(self, target: Any, task_id: str) -> Reply:
        return await self.send(target, "tasks/cancel", {"taskId": task_id})

    async def poll(self, targets: list[Any], task_id: str, until, timeout: float, interval: float) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
        """tasks/get on `targets` in turn every `interval` until `until(task)`; (that task, [(replica, task)...]).
        Fails after `timeout`."""
        seen: list[tuple[str, dict[str, Any]]] = []
        with anyio.move_on_after(timeout):
            for target in itertools.cycle(targets):
                task, by = await self.get(target, task_id)
                seen.append((by, task))
                if until(task):
                    return task, seen
                await anyio.sleep(interval)
        last = seen[-1][1] if seen else None
        raise AssertionError(f"task {task_id} did not get there within {timeout} s; last seen: {json.dumps(last)[:800]}")

    async def listen(self, target: Any, task_id: str, ready: anyio.Event, out: Listen, timeout: float) -> None:
        """A listen stream for `task_id` on `target`, read until a terminal notifications/tasks (or the end)."""
        params = {"notifications": {"taskIds": [task_id]}}
        msg = self.payload("subscriptions/listen", params, WITH_TASKS)
        out.request_id = msg["id"]
        try:
            with anyio.fail_after(timeout):
                async with self.http.stream("POST", target.url, content=json.dumps(msg).encode(),
                                            headers=self.headers("subscriptions/listen", params)) as r:
                    out.status = r.status_code
                    out.served_by = self.served_by(target, r.headers)
                    assert r.status_code == 200 and "text/event-stream" in r.headers.get("content-type", ""), (
                        f"listen on {target}: HTTP {r.status_code} {r.headers.get('content-type')}: {(await r.aread())[:500]!r}"
                    )
                    async for event in sse_events(r):
                        out.messages.append(event)
                        if not isinstance(event, dict):
                            continue
                        if event.get("method") == "notifications/subscriptions/acknowledged":
                            out.ack = event
                            ready.set()
                        elif event.get("method") == "notifications/tasks":
                            out.tasks.append(event.get("params") or {})
                            if (event.get("params") or {}).get("status") in TERMINAL:
                                return
                        elif "result" in event or "error" in event:
                            return  # the stream ended
        finally:
            ready.set()  # never leave the test waiting on a stream that failed


@pytest.fixture(scope="module")
def tasks_wire(request: pytest.FixtureRequest):
    """The module's recorder; one line at the end of the module with what it validated."""
    wire = TasksWire()
    yield wire
    report_validated(request, wire, "tasks (test_tasks_via_nginx.py, core + extension schemas)")


@pytest.fixture
async def tasks(cluster, tasks_wire: TasksWire):
    """The raw client on the validating tee (`TasksWire`); fails the test on any violation in what the replicas
    sent during it."""
    async with validated_tasks_client(cluster, tasks_wire) as client:
        yield client


@contextlib.asynccontextmanager
async def validated_tasks_client(cluster: Any, wire: "TasksWire"):
    """A `Tasks` client on `wire`'s validating tee; fails the test on any violation in what the replicas sent while
    it was open, and if nothing was validated."""
    mark = wire.mark()
    transport = make_tee_transport(httpx2)(wire)
    async with httpx2.AsyncClient(transport=transport, timeout=httpx2.Timeout(10.0, read=15.0)) as http:
        yield Tasks(cluster, http, wire)
    _exchanges, _recorded, violations, validated = wire.since(mark)
    if violations:
        pytest.fail(
            f"{len(violations)} schema/protocol violation(s) in what the replicas sent during this test:\n"
            + "\n".join(f"  - {v}" for v in violations),
            pytrace=False,
        )
    assert validated > 0, "no server message was schema-validated"


def others(cluster: Any, runner: str) -> list[Any]:
    """The replicas other than the one running the task (B, C), in a fixed order."""
    rest = [r for r in cluster.replicas if r.name != runner]
    assert len(rest) >= 2, f"needs three replicas (runner {runner}, replicas {cluster.replicas})"
    return rest


def text_of(result: dict[str, Any]) -> str:
    content = result.get("content")
    assert isinstance(content, list) and content and isinstance(content[0], dict), result
    return content[0].get("text", "")


def plain(task: dict[str, Any]) -> dict[str, Any]:
    """A task without what wraps it (a result's resultType and _meta, a notification's _meta)."""
    return {k: v for k, v in task.items() if k not in ("resultType", "_meta")}


def poll_seconds(created: dict[str, Any]) -> float:
    """The server's pollIntervalMs, kept between 0.1 s and 0.5 s so that the tests stay short."""
    return min(max(created.get("pollIntervalMs", 500) / 1000, 0.1), 0.5)


def accept_continue(ok: bool = True) -> dict[str, Any]:
    return {"continue": {"action": "accept", "content": {"ok": ok}}}


def check_continue_request(task: dict[str, Any], steps: int) -> None:
    requests = task.get("inputRequests")
    assert isinstance(requests, dict) and list(requests) == ["continue"], f"inputRequests: {requests}"
    req = requests["continue"]
    assert req.get("method") == "elicitation/create", req
    p = req.get("params") or {}
    assert p.get("mode") == "form", req
    assert isinstance(p.get("message"), str) and p["message"].endswith("Continue?"), req
    assert ((p.get("requestedSchema") or {}).get("properties") or {}).get("ok", {}).get("type") == "boolean", req


# --------------------------------------------------------------------------------------------------
# 0. the validator itself: it accepts a good task and flags bad ones (no cluster needed)
# --------------------------------------------------------------------------------------------------


def _fake_exchange(wire: TasksWire, method: str, params: dict[str, Any], rid: int = 7) -> Exchange:
    ex = Exchange(seq=len(wire.exchanges) + 1, http_method="POST", url="http://127.0.0.1:1/mcp",
                  request_headers={"mcp-protocol-version": MODERN, "mcp-method": method},
                  request_body={"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
    ex.status, ex.content_type = 200, "application/json"
    wire.exchanges.append(ex)
    return ex


def test_tasks_wire_judges_task_shapes():
    meta = {PV: MODERN, CI: CLIENT_INFO, CC: WITH_TASKS}
    server_meta = {META_SERVER_INFO: {"name": "x", "version": "1"}}
    good = {"resultType": "task", "taskId": "t1", "status": "working", "createdAt": "2026-12-05T12:00:00Z",
            "lastUpdatedAt": "2026-12-05T12:00:00Z", "ttlMs": 60000, "pollIntervalMs": 500, "_meta": server_meta}
    cases: list[tuple[str, str, dict[str, Any], Any, str]] = [
        ("good CreateTaskResult", "tools/call", {"name": "long-job", "_meta": meta}, {"jsonrpc": "2.0", "id": 7, "result": good}, ""),
        ("CreateTaskResult without createdAt", "tools/call", {"name": "long-job", "_meta": meta},
         {"jsonrpc": "2.0", "id": 7, "result": {k: v for k, v in good.items() if k != "createdAt"}}, "createdAt"),
        ("CreateTaskResult, extension not declared", "tools/call", {"name": "long-job", "_meta": {**meta, CC: {}}},
         {"jsonrpc": "2.0", "id": 7, "result": good}, "did not declare"),
        ("tasks/get answered with resultType task", "tasks/get", {"taskId": "t1", "_meta": meta},
         {"jsonrpc": "2.0", "id": 7, "result": good}, "cannot create tasks"),
        ("completed without result", "tasks/get", {"taskId": "t1", "_meta": meta},
         {"jsonrpc": "2.0", "id": 7, "result": {**good, "resultType": "complete", "status": "completed"}}, "result"),
        ("bad timestamp", "tasks/get", {"taskId": "t1", "_meta": meta},
         {"jsonrpc": "2.0", "id": 7, "result": {**good, "resultType": "complete", "lastUpdatedAt": "yesterday"}}, "ISO 8601"),
        ("tasks/update ack with task members", "tasks/update", {"taskId": "t1", "inputResponses": {}, "_meta": meta},
         {"jsonrpc": "2.0", "id": 7, "result": {"resultType": "complete", "status": "working", "_meta": server_meta}}, "acknowledgement"),
    ]
    for label, method, params, msg, expected in cases:
        wire = TasksWire()
        wire.record(_fake_exchange(wire, method, params), msg, "json")
        if expected:
            assert any(expected in v for v in wire.violations), f"{label}: not flagged ({wire.violations})"
        else:
            assert not wire.violations, f"{label}: {wire.violations}"
    # notifications/tasks: only on a listen stream that asked for the task, after its acknowledgement
    wire = TasksWire()
    ex = _fake_exchange(wire, "subscriptions/listen", {"notifications": {"taskIds": ["t1"]}, "_meta": meta}, rid=9)
    ex.content_type = "text/event-stream"
    sub = {META_SUBSCRIPTION_ID: 9}
    wire.record(ex, {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                     "params": {"notifications": {"taskIds": ["t1"]}, "_meta": sub}}, "sse")
    task = {k: v for k, v in good.items() if k not in ("resultType", "_meta")}
    wire.record(ex, {"jsonrpc": "2.0", "method": "notifications/tasks", "params": {**task, "_meta": sub}}, "sse")
    assert not wire.violations, wire.violations
    wire.record(ex, {"jsonrpc": "2.0", "method": "notifications/tasks", "params": {**task, "taskId": "t2", "_meta": sub}}, "sse")
    assert any("did not ask for" in v for v in wire.violations), wire.violations
    wire.record(ex, {"jsonrpc": "2.0", "method": "notifications/tasks", "params": {**task, "status": "bogus", "_meta": sub}}, "sse")
    assert any("schema (tasks extension)" in v for v in wire.violations), wire.violations


# --------------------------------------------------------------------------------------------------
# 1. created on A, resolved at once on B and C, completed
# --------------------------------------------------------------------------------------------------


async def test_task_created_on_one_replica_is_polled_on_the_others(cluster, tasks):
    steps, interval = 4, 500
    with anyio.fail_after(TEST_SECONDS):
        created, runner = await tasks.create(cluster.nginx, steps, interval)
        task_id = created["taskId"]
        b, c = others(cluster, runner)[:2]
        # durably created before the CreateTaskResult: resolved at once by every other replica
        for target in (b, c):
            task, by = await tasks.get(target, task_id)
            assert by == target.name
            assert task["taskId"] == task_id
            assert task["status"] not in TERMINAL, f"a {steps} x {interval} ms job is already {task['status']} on {by}"
            assert task["createdAt"] == created["createdAt"] and task["ttlMs"] == created["ttlMs"], (created, task)
        # polled on B, C and through nginx (round robin) until it is done
        done, seen = await tasks.poll([b, c, cluster.nginx], task_id, lambda t: t["status"] in TERMINAL,
                                      timeout=10, interval=poll_seconds(created))
        assert done["status"] == "completed", done
        assert text_of(done["result"]) == f"done: {steps}", done
        assert done["result"].get("isError") in (None, False), done
        messages = [t.get("statusMessage") for _, t in seen if t.get("statusMessage")]
        numbers = []
        for m in messages:
            match = STEP.match(m)
            assert match and int(match.group(2)) == steps, f"statusMessage {m!r} is not 'step n of {steps}'"
            numbers.append(int(match.group(1)))
        assert numbers, f"no 'step n of {steps}' statusMessage seen in {len(seen)} polls: {[t['status'] for _, t in seen]}"
        assert numbers == sorted(numbers), f"the step went backwards across replicas: {numbers}"
        assert all(1 <= n <= steps for n in numbers), numbers
        stamps = [_iso(t["lastUpdatedAt"]) for _, t in seen]
        assert stamps == sorted(stamps), f"lastUpdatedAt went backwards across replicas: {[t['lastUpdatedAt'] for _, t in seen]}"
        assert {t["createdAt"] for _, t in seen} == {created["createdAt"]}
        served = {by for by, _ in seen}
        assert {b.name, c.name} <= served, served
        # the completed task is the same on every replica, reached through nginx (three in a row: each replica)
        finals = [await tasks.get(cluster.nginx, task_id) for _ in range(len(cluster.replicas))]
        assert {by for _, by in finals} == {r.name for r in cluster.replicas}, [by for _, by in finals]
        for task, by in finals:
            assert plain(task) == plain(done), (by, task, done)


# --------------------------------------------------------------------------------------------------
# 2. input_required answered by tasks/update on a replica that does not run the task
# --------------------------------------------------------------------------------------------------


async def test_confirm_answered_on_another_replica(cluster, tasks):
    steps = 3
    with anyio.fail_after(TEST_SECONDS):
        created, runner = await tasks.create(cluster.nginx, steps, 200, confirm=True, caps=WITH_TASKS_AND_ELICITATION)
        task_id = created["taskId"]
        b, c = others(cluster, runner)[:2]
        waiting, _ = await tasks.poll([b, c], task_id, lambda t: t["status"] != "working", timeout=8, interval=0.1)
        assert waiting["status"] == "input_required", waiting
        check_continue_request(waiting, steps)
        # the handler on the runner waits: the task stays parked, the same request still outstanding
        await anyio.sleep(0.4)
        still, _ = await tasks.get(c, task_id)
        assert still["status"] == "input_required" and still["inputRequests"] == waiting["inputRequests"], still
        ack = await tasks.update(c, task_id, accept_continue(True))
        assert ack.served_by == c.name and ack.served_by != runner
        assert ack.result.get("resultType") == "complete", ack.body
        done, seen = await tasks.poll([b, c], task_id, lambda t: t["status"] in TERMINAL, timeout=8, interval=poll_seconds(created))
        assert done["status"] == "completed", done
        assert text_of(done["result"]) == f"done: {steps}", done
        assert "inputRequests" not in done, done
        # the answered key is never asked again
        assert all(t["status"] != "input_required" for _, t in seen), [t["status"] for _, t in seen]


async def test_confirm_declined_on_another_replica(cluster, tasks):
    steps = 3
    with anyio.fail_after(TEST_SECONDS):
        created, runner = await tasks.create(cluster.nginx, steps, 200, confirm=True, caps=WITH_TASKS_AND_ELICITATION)
        task_id = created["taskId"]
        b, c = others(cluster, runner)[:2]
        waiting, _ = await tasks.poll([c, b], task_id, lambda t: t["status"] != "working", timeout=8, interval=0.1)
        assert waiting["status"] == "input_required", waiting
        check_continue_request(waiting, steps)
        ack = await tasks.update(b, task_id, {"continue": {"action": "decline"}})
        assert ack.served_by == b.name and ack.result.get("resultType") == "complete", ack.body
        done, _ = await tasks.poll([c, b], task_id, lambda t: t["status"] in TERMINAL, timeout=8, interval=poll_seconds(created))
        assert done["status"] == "completed", done
        assert text_of(done["result"]) == "declined", done


# --------------------------------------------------------------------------------------------------
# 3. tasks/cancel on a third replica
# --------------------------------------------------------------------------------------------------


async def test_cancel_on_a_third_replica(cluster, tasks):
    steps, interval = 30, 200
    with anyio.fail_after(TEST_SECONDS):
        created, runner = await tasks.create(cluster.nginx, steps, interval)
        task_id = created["taskId"]
        b, c = others(cluster, runner)[:2]
        running, _ = await tasks.poll([b], task_id, lambda t: STEP.match(t.get("statusMessage") or ""), timeout=5, interval=0.1)
        assert running["status"] == "working", running
        ack = await tasks.cancel(c, task_id)
        assert ack.served_by == c.name and c.name not in (runner, b.name)
        assert ack.result.get("resultType") == "complete", ack.body
        done, _ = await tasks.poll([b, cluster.nginx], task_id, lambda t: t["status"] in TERMINAL, timeout=5, interval=0.1)
        assert done["status"] == "cancelled", done
        step = STEP.match(done.get("statusMessage") or "")
        assert step is None or int(step.group(1)) < steps, f"cancelled only after the last step: {done}"
        # the runner stopped: nothing changes any more, on any replica
        await anyio.sleep(3 * interval / 1000)
        for target in cluster.replicas:
            later, _ = await tasks.get(target, task_id)
            assert plain(later) == plain(done), (target.name, later, done)


# --------------------------------------------------------------------------------------------------
# 4. notifications/tasks on listen streams held by the replicas that do not run the task
# --------------------------------------------------------------------------------------------------


async def test_notifications_on_streams_held_elsewhere(cluster, tasks):
    steps = 3
    with anyio.fail_after(TEST_SECONDS):
        # confirm: the task parks in input_required, so that both streams are open before it moves again
        created, runner = await tasks.create(cluster.nginx, steps, 300, confirm=True, caps=WITH_TASKS_AND_ELICITATION)
        task_id = created["taskId"]
        b, c = others(cluster, runner)[:2]
        waiting, _ = await tasks.poll([b, c], task_id, lambda t: t["status"] != "working", timeout=8, interval=0.1)
        assert waiting["status"] == "input_required", waiting
        # two streams pinned to B and C, and one through nginx (held by whichever replica nginx picks)
        streams = {b.name: Listen(), c.name: Listen(), "nginx": Listen()}
        async with anyio.create_task_group() as tg:
            ready = {name: anyio.Event() for name in streams}
            for name, target in ((b.name, b), (c.name, c), ("nginx", cluster.nginx)):
                tg.start_soon(tasks.listen, target, task_id, ready[name], streams[name], 10.0)
            for event in ready.values():
                await event.wait()
            for name, s in streams.items():
                assert s.ack is not None, f"the listen stream on {name} was not acknowledged: {s.messages}"
                granted = (s.ack.get("params") or {}).get("notifications") or {}
                assert granted.get("taskIds") == [task_id], f"{name} acknowledged {granted}"
            ack = await tasks.update(c, task_id, accept_continue(True))
            assert ack.result.get("resultType") == "complete", ack.body
        final, _ = await tasks.get(b, task_id)
        assert final["status"] == "completed" and text_of(final["result"]) == f"done: {steps}", final
        via_nginx = streams.pop("nginx")
        assert via_nginx.served_by in {r.name for r in cluster.replicas}
        for name, s in [*streams.items(), (via_nginx.served_by, via_nginx)]:
            assert s.served_by == name
            statuses = [t.get("status") for t in s.tasks]
            assert statuses and statuses[-1] == "completed", f"stream on {name}: {statuses}"
            assert all(t.get("taskId") == task_id for t in s.tasks)
            assert all(t["_meta"].get(META_SUBSCRIPTION_ID) == s.request_id for t in s.tasks), s.tasks
            # every change after the answer: back to working, each later step, the end
            assert "input_required" not in statuses and set(statuses[:-1]) <= {"working"}, f"stream on {name}: {statuses}"
            messages = [t.get("statusMessage") for t in s.tasks]
            for n in range(2, steps + 1):
                assert f"step {n} of {steps}" in messages, f"stream on {name}: no 'step {n} of {steps}' in {messages}"
            # the full task, as tasks/get returns it
            assert plain(s.tasks[-1]) == plain(final), (name, s.tasks[-1], final)
            assert text_of(s.tasks[-1]["result"]) == f"done: {steps}"
            stamps = [_iso(t["lastUpdatedAt"]) for t in s.tasks]
            assert stamps == sorted(stamps), f"stream on {name}: lastUpdatedAt out of order"
        assert runner not in (b.name, c.name)
        # every stream saw the same changes, in the same order
        assert [plain(t) for t in streams[b.name].tasks] == [plain(t) for t in streams[c.name].tasks] == [plain(t) for t in via_nginx.tasks]


# --------------------------------------------------------------------------------------------------
# 5. refusals
# --------------------------------------------------------------------------------------------------


async def test_unknown_task_is_invalid_params_on_every_replica(cluster, tasks):
    with anyio.fail_after(TEST_SECONDS):
        unknown = "t-no-such-task-0000"
        for target in [*cluster.replicas, cluster.nginx]:
            reply = await tasks.send(target, "tasks/get", {"taskId": unknown})
            assert reply.error["code"] == -32602, (target, reply.body)
        reply = await tasks.send(cluster.b, "tasks/update", {"taskId": unknown, "inputResponses": accept_continue()},
                                 caps=WITH_TASKS_AND_ELICITATION)
        assert reply.error["code"] == -32602, reply.body
        reply = await tasks.send(cluster.c, "tasks/cancel", {"taskId": unknown})
        assert reply.error["code"] == -32602, reply.body


async def test_mcp_name_must_be_the_task_id(cluster, tasks):
    with anyio.fail_after(TEST_SECONDS):
        created, runner = await tasks.create(cluster.nginx, 5, 200)
        task_id = created["taskId"]
        b, c = others(cluster, runner)[:2]
        for target, method, params in (
            (b, "tasks/get", {"taskId": task_id}),
            (c, "tasks/update", {"taskId": task_id, "inputResponses": accept_continue()}),
            (b, "tasks/cancel", {"taskId": task_id}),
        ):
            reply = await tasks.send(target, method, params, name=task_id + "x", caps=WITH_TASKS_AND_ELICITATION)
            assert reply.status == 400 and reply.error["code"] == -32020, (method, reply.status, reply.body)
        reply = await tasks.send(c, "tasks/get", {"taskId": task_id}, name=None)  # no Mcp-Name at all
        assert reply.status == 400 and reply.error["code"] == -32020, (reply.status, reply.body)
        encoded = "=?base64?" + base64.b64encode(task_id.encode()).decode() + "?="  # the sentinel form is the same name
        reply = await tasks.send(b, "tasks/get", {"taskId": task_id}, name=encoded)
        assert reply.status == 200 and reply.result["taskId"] == task_id, (reply.status, reply.body)
        # the refused cancel changed nothing
        done, _ = await tasks.poll([c, b], task_id, lambda t: t["status"] in TERMINAL, timeout=6, interval=poll_seconds(created))
        assert done["status"] == "completed" and text_of(done["result"]) == "done: 5", done


async def test_extension_must_be_declared(cluster, tasks):
    with anyio.fail_after(TEST_SECONDS):
        created, runner = await tasks.create(cluster.nginx, 5, 200)
        task_id = created["taskId"]
        b, c = others(cluster, runner)[:2]
        for target, method, params in (
            (b, "tasks/get", {"taskId": task_id}),
            (c, "tasks/update", {"taskId": task_id, "inputResponses": accept_continue()}),
            (b, "tasks/cancel", {"taskId": task_id}),
            (c, "subscriptions/listen", {"notifications": {"taskIds": [task_id]}}),
        ):
            reply = await tasks.send(target, method, params, caps=WITHOUT_TASKS)
            assert reply.status == 400 and reply.error["code"] == -32021, (method, target.name, reply.status, reply.body)
            required = (reply.error.get("data") or {}).get("requiredCapabilities") or {}
            assert TASKS_EXT in (required.get("extensions") or {}), (method, reply.body)
        # without the extension a task-capable tool answers synchronously, never with a CreateTaskResult
        sync = await tasks.send(cluster.nginx, "tools/call", {"name": "long-job", "arguments": {"steps": 2, "intervalMs": 50}},
                                caps=WITHOUT_TASKS)
        assert sync.result.get("resultType") == "complete" and "taskId" not in sync.result, sync.body
        assert text_of(sync.result) == "done: 2", sync.body
        # the refused cancel changed nothing
        done, _ = await tasks.poll([c, b], task_id, lambda t: t["status"] in TERMINAL, timeout=6, interval=poll_seconds(created))
        assert done["status"] == "completed" and text_of(done["result"]) == "done: 5", done
