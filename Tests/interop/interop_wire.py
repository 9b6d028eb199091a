"""Client-side capture and schema validation of every message the server sends.

`TeeTransport` wraps the real httpx2 transport that the MCP Python client uses (mcp 2.x;
`make_tee_transport(httpx)` builds the same tee for the `httpx` transport of mcp 1.x). It sees each HTTP
request (so it knows the JSON-RPC method, id and `_meta` the client sent) and every byte of each
response. JSON bodies are parsed when complete; `text/event-stream` bodies are parsed event by event
as the bytes arrive, so a stream that the client aborts (cancellation, leaving a listen) still has
every event it delivered validated.

Each server message is handed to `WireRecorder.record`, which validates it against the official
2026-07-28 JSON schema (`Tests/fixtures/schema/2026-07-28/schema.json`):

* a result against the result type of the request's method (`CallToolResult`, `ListToolsResult`,
  `DiscoverResult`, ...), or `InputRequiredResult` when `resultType` is `input_required`, inside a
  `JSONRPCResultResponse` envelope;
* an error against `JSONRPCErrorResponse`;
* a notification against its own definition (`ProgressNotification`, `LoggingMessageNotification`,
  `SubscriptionsAcknowledgedNotification`, `ResourceUpdatedNotification`, ...).

It also checks a few protocol rules that the schema cannot express (response id equals request id,
progress only for a request that carried a progress token and with that token, log messages only
when the request opted in and at or above its level, the listen ack first and every listen
notification stamped with the subscription id, no server-to-client requests at 2026-07-28).
Violations are collected, never raised inside the transport, so that the client under test behaves
exactly as it would without the tee; the test fixtures fail the test on any violation.

Legacy (session-based) traffic, protocol 2025-03-26, 2025-06-18 and 2025-11-25: an exchange that
carries `Mcp-Session-Id`, is an `initialize`, a GET or DELETE accepting `text/event-stream`, or names a
legacy version in `MCP-Protocol-Version` is judged by the legacy rules instead. The recorder learns each session's
negotiated version from the `initialize` exchange (the `Mcp-Session-Id` response header plus the
result's `protocolVersion`) and validates everything on that session against
`Tests/fixtures/schema/<version>/schema.json`: results against the legacy result type of the
request's method (`InitializeResult`, `CallToolResult`, `EmptyResult` for ping / setLevel /
subscribe, ...; a `resultType` member is a violation), server-to-client requests against
`ElicitRequest` / `CreateMessageRequest` / `ListRootsRequest` / `PingRequest` (only when the method
exists at that version and the client declared the capability), notifications against their own
definitions, errors against the version's error envelope (an error without an id, which HTTP-level
errors are, against 2025-11-25's `JSONRPCErrorResponse`, the first schema that allows it). On top:
every SSE event carries an `id`, unique per session (a replay repeats an id only with the same
message, and only on the same stream; a resumed stream may re-prime with the Last-Event-ID); a
stream starts with a priming event (id, empty data) and a `retry` field; a resumed stream (GET + `Last-Event-ID`) never repeats the Last-Event-ID event nor
delivers another stream's events; no response on a standalone GET stream; progress tokens match the
request's and increase; log messages only after `logging/setLevel` and at or above that level;
`notifications/resources/updated` only for URIs the session subscribed; list_changed / logging /
updated only with the server capability declared at initialize; a notification or response POST
gets 202 with no body (or an error status); after a successful DELETE every request of the session
gets 404; the negotiated version is the requested one when supported, else 2025-11-25.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

MODERN = "2026-07-28"
META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"
META_SERVER_INFO = "io.modelcontextprotocol/serverInfo"
META_SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"

# The schema definition a `result` must satisfy, by the method of the request it answers.
RESULT_DEFS: dict[str, str] = {
    "server/discover": "DiscoverResult",
    "tools/list": "ListToolsResult",
    "tools/call": "CallToolResult",
    "resources/list": "ListResourcesResult",
    "resources/templates/list": "ListResourceTemplatesResult",
    "resources/read": "ReadResourceResult",
    "prompts/list": "ListPromptsResult",
    "prompts/get": "GetPromptResult",
    "completion/complete": "CompleteResult",
    "subscriptions/listen": "SubscriptionsListenResult",
}

# Methods whose result may be an InputRequiredResult (multi round-trip requests).
MRTR_METHODS = {"tools/call", "prompts/get", "resources/read"}

# The schema definition of each notification a 2026-07-28 server may send.
NOTIFICATION_DEFS: dict[str, str] = {
    "notifications/progress": "ProgressNotification",
    "notifications/message": "LoggingMessageNotification",
    "notifications/cancelled": "CancelledNotification",
    "notifications/resources/updated": "ResourceUpdatedNotification",
    "notifications/resources/list_changed": "ResourceListChangedNotification",
    "notifications/tools/list_changed": "ToolListChangedNotification",
    "notifications/prompts/list_changed": "PromptListChangedNotification",
    "notifications/subscriptions/acknowledged": "SubscriptionsAcknowledgedNotification",
}

# Errors with a definition of their own; for HTTP the schema says the status MUST be 400.
ERROR_DEFS: dict[int, str] = {
    -32020: "HeaderMismatchError",
    -32021: "MissingRequiredClientCapabilityError",
    -32022: "UnsupportedProtocolVersionError",
}

LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]

# ---- the legacy (session-based) era ----------------------------------------------------------------

LEGACY_VERSIONS = ("2025-03-26", "2025-06-18", "2025-11-25")
LATEST_LEGACY = "2025-11-25"

# The schema definition a legacy `result` must satisfy, by the method of the request it answers.
LEGACY_RESULT_DEFS: dict[str, str] = {
    "initialize": "InitializeResult",
    "ping": "EmptyResult",
    "tools/list": "ListToolsResult",
    "tools/call": "CallToolResult",
    "resources/list": "ListResourcesResult",
    "resources/templates/list": "ListResourceTemplatesResult",
    "resources/read": "ReadResourceResult",
    "resources/subscribe": "EmptyResult",
    "resources/unsubscribe": "EmptyResult",
    "prompts/list": "ListPromptsResult",
    "prompts/get": "GetPromptResult",
    "completion/complete": "CompleteResult",
    "logging/setLevel": "EmptyResult",
    # 2025-11-25 tasks (a task-augmented tools/call gets a CreateTaskResult: see _check_legacy_result)
    "tasks/get": "GetTaskResult",
    "tasks/result": "GetTaskPayloadResult",
    "tasks/list": "ListTasksResult",
    "tasks/cancel": "CancelTaskResult",
}

# Server-to-client requests, and the client capability each needs.
LEGACY_SERVER_REQUEST_DEFS: dict[str, str] = {
    "ping": "PingRequest",
    "sampling/createMessage": "CreateMessageRequest",
    "roots/list": "ListRootsRequest",
    "elicitation/create": "ElicitRequest",  # 2025-06-18 and later
}
LEGACY_REQUEST_CAPABILITY: dict[str, str] = {
    "sampling/createMessage": "sampling",
    "roots/list": "roots",
    "elicitation/create": "elicitation",
}

LEGACY_NOTIFICATION_DEFS: dict[str, str] = {
    "notifications/progress": "ProgressNotification",
    "notifications/message": "LoggingMessageNotification",
    "notifications/cancelled": "CancelledNotification",
    "notifications/resources/updated": "ResourceUpdatedNotification",
    "notifications/resources/list_changed": "ResourceListChangedNotification",
    "notifications/tools/list_changed": "ToolListChangedNotification",
    "notifications/prompts/list_changed": "PromptListChangedNotification",
    "notifications/elicitation/complete": "ElicitationCompleteNotification",  # 2025-11-25
    "notifications/tasks/status": "TaskStatusNotification",  # 2025-11-25
}

# list_changed notification -> the server capability that must have listChanged: true
LIST_CHANGED_CAPABILITY = {
    "notifications/resources/list_changed": "resources",
    "notifications/tools/list_changed": "tools",
    "notifications/prompts/list_changed": "prompts",
}


def classify_era(http_method: str, headers: dict[str, str], body: Any) -> str:
    """"legacy" for session-based (2025-03-26 .. 2025-11-25) traffic, else "modern"."""
    if headers.get("mcp-session-id") is not None:
        return "legacy"
    if http_method in ("GET", "DELETE") and "text/event-stream" in headers.get("accept", ""):
        return "legacy"  # (a plain GET, e.g. of /healthz, is no MCP traffic: left to the modern rules)
    pv = headers.get("mcp-protocol-version")
    if pv in LEGACY_VERSIONS:
        return "legacy"
    if isinstance(body, dict) and body.get("method") == "initialize":
        return "legacy"
    return "modern"


def _visible_ascii(value: str) -> bool:
    return bool(value) and all(0x21 <= ord(ch) <= 0x7E for ch in value)


def _format_checker(cls: Any = Draft202012Validator) -> FormatChecker:
    """Draft 2020-12 format checks (formats are only annotations unless asserted; this suite asserts
    them), with "uri" widened to IRIs: MCP resource URIs need not be ASCII (the Mcp-Name header has a
    base64 form for exactly that), so an IRI is mapped to a URI as RFC 3987 section 3.1 says
    (percent-encode the UTF-8 of every non-ASCII character) before the RFC 3986 check."""
    checker = copy.deepcopy(cls.FORMAT_CHECKER)
    try:
        from rfc3986_validator import validate_rfc3986
    except ImportError:  # without the validator jsonschema does not check "uri" at all
        return checker

    @checker.checks("uri")
    def _is_uri_or_iri(instance: object) -> bool:
        if not isinstance(instance, str):
            return True
        mapped = "".join(ch if ord(ch) < 0x80 else quote(ch, safe="") for ch in instance)
        return bool(validate_rfc3986(mapped, rule="URI"))

    return checker


class SchemaValidator:
    """Validates instances against named definitions of one MCP schema file (the JSON Schema draft
    is the one the file declares: 2020-12 for 2025-11-25 and later, draft-07 before)."""

    def __init__(self, schema_path: Path) -> None:
        self.path = schema_path
        self.schema = json.loads(schema_path.read_text(encoding="utf-8"))
        self.defs: dict[str, Any] = self.schema.get("$defs") or self.schema.get("definitions") or {}
        if not self.defs:
            raise ValueError(f"{schema_path}: no $defs")
        self._key = "$defs" if "$defs" in self.schema else "definitions"
        self._cls = validator_for(self.schema, default=Draft202012Validator)
        self._cls.check_schema(self.schema)
        self._validators: dict[str, Any] = {}
        self._formats = _format_checker(self._cls)
        self._lock = threading.Lock()

    def has(self, definition: str) -> bool:
        return definition in self.defs

    def validator(self, definition: str) -> Any:
        if definition not in self.defs:
            raise KeyError(f"schema has no definition {definition!r}")
        with self._lock:
            v = self._validators.get(definition)
            if v is None:
                root = {
                    "$schema": self.schema.get("$schema", "https://json-schema.org/draft/2020-12/schema"),
                    self._key: self.defs,
                }
                if self._cls is Draft202012Validator:
                    root["$ref"] = f"#/{self._key}/{definition}"
                else:  # draft-07: siblings of "$ref" are ignored, so wrap it
                    root["allOf"] = [{"$ref": f"#/{self._key}/{definition}"}]
                v = self._cls(root, format_checker=self._formats)
                self._validators[definition] = v
            return v

    def errors(self, definition: str, instance: Any) -> list[str]:
        """Every violation of `definition` by `instance`, as readable lines (empty when valid)."""
        out = []
        for err in sorted(self.validator(definition).iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]):
            where = "/".join(str(p) for p in err.absolute_path) or "<root>"
            line = f"{definition} at {where}: {err.message}"
            if err.context:  # anyOf/oneOf: say why the closest alternative failed
                best = best_match(err.context)
                inner = "/".join(str(p) for p in best.absolute_path) or "<root>"
                line += f" (closest: at {inner}: {best.message})"
            out.append(line)
        return out

    def validate(self, definition: str, instance: Any) -> None:
        errs = self.errors(definition, instance)
        if errs:
            raise AssertionError("schema violation:\n  " + "\n  ".join(errs))


@dataclass
class Exchange:
    """One HTTP request the client sent, and what came back."""

    seq: int
    http_method: str
    url: str
    request_headers: dict[str, str]
    request_body: Any  # parsed JSON-RPC request/notification, or None
    status: int | None = None
    content_type: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = False  # body read to the end
    raw_tail: bytes = b""
    sse_ids: list[str] = field(default_factory=list)
    # legacy era
    era: str = "modern"
    response_headers: dict[str, str] = field(default_factory=dict)
    origin: "Exchange | None" = None  # a resuming GET: the exchange whose stream it resumes (None: unknown)
    events: list[tuple[str | None, Any]] = field(default_factory=list)  # (SSE id, message; None = priming)
    frames: int = 0  # SSE frames (dispatched or not) seen
    data_events: int = 0
    primed: bool = False
    retry_seen: bool = False

    @property
    def rpc_method(self) -> str | None:
        return self.request_body.get("method") if isinstance(self.request_body, dict) else None

    @property
    def rpc_id(self) -> Any:
        return self.request_body.get("id") if isinstance(self.request_body, dict) else None

    @property
    def request_meta(self) -> dict[str, Any]:
        if isinstance(self.request_body, dict):
            params = self.request_body.get("params") or {}
            if isinstance(params, dict):
                meta = params.get("_meta") or {}
                if isinstance(meta, dict):
                    return meta
        return {}

    @property
    def session_id(self) -> str | None:
        return self.request_headers.get("mcp-session-id")

    @property
    def last_event_id(self) -> str | None:
        return self.request_headers.get("last-event-id")

    @property
    def stream_origin(self) -> "Exchange":
        """The exchange whose stream this is: itself, or for a resuming GET the stream it resumes."""
        return self.origin or self

    @property
    def is_client_request(self) -> bool:
        return isinstance(self.request_body, dict) and "method" in self.request_body and "id" in self.request_body

    def describe(self) -> str:
        extra = ""
        if self.era == "legacy":
            extra = f" [legacy{' resume of #%d' % self.origin.seq if self.origin else ''}]"
        return f"#{self.seq} {self.http_method} {self.rpc_method or '-'} id={self.rpc_id!r} -> HTTP {self.status} {self.content_type}{extra}"


@dataclass
class Recorded:
    exchange: Exchange
    kind: str  # result | error | notification | request | invalid
    definition: str | None
    message: Any
    framing: str  # json | sse
    event_id: str | None = None


@dataclass
class LegacySession:
    """What the recorder knows about one legacy session (keyed by Mcp-Session-Id)."""

    session_id: str
    version: str
    client_capabilities: dict[str, Any]
    server_capabilities: dict[str, Any]
    log_level: str | None = None
    subscriptions: set[str] = field(default_factory=set)
    events: dict[str, tuple[int, str]] = field(default_factory=dict)  # SSE id -> (stream origin seq, message JSON)
    server_request_ids: set[Any] = field(default_factory=set)
    progress: dict[str, float] = field(default_factory=dict)  # last progress value by token
    deleted_after: int | None = None  # number of exchanges when a DELETE succeeded


class WireRecorder:
    """Collects and validates everything the server sends, across all clients of a test session."""

    def __init__(self, validator: SchemaValidator, schema_root: Path | None = None) -> None:
        self.validator = validator
        self.schema_root = schema_root or validator.path.parent.parent
        self._validators: dict[str, SchemaValidator] = {}
        self.sessions: dict[str, LegacySession] = {}
        self.exchanges: list[Exchange] = []
        self.recorded: list[Recorded] = []
        self.violations: list[str] = []
        self.validated = 0  # server messages schema-validated
        self.by_definition: dict[str, int] = {}
        self._lock = threading.Lock()

    # -- bookkeeping -------------------------------------------------------------------------------

    def mark(self) -> tuple[int, int, int, int]:
        return (len(self.exchanges), len(self.recorded), len(self.violations), self.validated)

    def since(self, mark: tuple[int, int, int, int]) -> tuple[list[Exchange], list[Recorded], list[str], int]:
        e, r, v, n = mark
        return self.exchanges[e:], self.recorded[r:], self.violations[v:], self.validated - n

    def validator_for(self, version: str) -> SchemaValidator:
        """The schema of one protocol version (Tests/fixtures/schema/<version>/schema.json)."""
        if version == MODERN:
            return self.validator
        with self._lock:
            v = self._validators.get(version)
        if v is None:
            v = SchemaValidator(self.schema_root / version / "schema.json")
            with self._lock:
                self._validators.setdefault(version, v)
        return v

    def new_exchange(self, request: Any, body: Any) -> Exchange:
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self._lock:
            ex = Exchange(
                seq=len(self.exchanges) + 1,
                http_method=request.method,
                url=str(request.url),
                request_headers=headers,
                request_body=body,
                era=classify_era(request.method, headers, body),
            )
            if ex.era == "legacy" and ex.last_event_id is not None:
                sess = self.sessions.get(ex.session_id or "")
                known = sess.events.get(ex.last_event_id) if sess else None
                if known is not None:
                    ex.origin = self.exchanges[known[0] - 1].stream_origin
            self.exchanges.append(ex)
            return ex

    def response_started(self, ex: Exchange, response: Any) -> None:
        """The status line and headers arrived."""
        ex.status = response.status_code
        ex.content_type = response.headers.get("content-type", "")
        ex.response_headers = {k.lower(): v for k, v in response.headers.items()}
        if ex.era == "legacy":
            self._legacy_response_checks(ex)

    def violation(self, ex: Exchange | None, text: str, message: Any = None) -> None:
        where = ex.describe() if ex else "?"
        line = f"[{where}] {text}"
        if message is not None:
            line += f"\n      message: {json.dumps(message)[:1500]}"
        with self._lock:
            self.violations.append(line)

    # -- validation --------------------------------------------------------------------------------

    def _schema(self, ex: Exchange, definition: str, instance: Any, whole: Any, version: str = MODERN) -> None:
        errs = self.validator_for(version).errors(definition, instance)
        key = definition if version == MODERN else f"{version}/{definition}"
        with self._lock:
            self.by_definition[key] = self.by_definition.get(key, 0) + 1
        for e in errs:
            self.violation(ex, ("schema: " if version == MODERN else f"schema {version}: ") + e, whole)

    def record_raw(self, ex: Exchange, data: bytes | str, framing: str, event_id: str | None = None) -> None:
        """One complete JSON body or one SSE event's data."""
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        try:
            msg = json.loads(text)
        except ValueError as exc:
            self.violation(ex, f"server sent a body/event that is not JSON ({exc}): {text[:300]!r}")
            self.recorded.append(Recorded(ex, "invalid", None, text, framing, event_id))
            return
        if isinstance(msg, list):
            if ex.era == "legacy":
                if not self._batch_requests(ex):
                    self.violation(ex, "server sent a JSON-RPC batch (the client sent no batch of requests)", msg)
            else:
                self.violation(ex, "server sent a JSON-RPC batch; 2026-07-28 has no batches", msg)
            for m in msg:
                self.record(ex, m, framing)
            return
        self.record(ex, msg, framing, event_id)

    def record(self, ex: Exchange, msg: Any, framing: str, event_id: str | None = None) -> None:
        ex.messages.append(msg)
        if ex.era == "legacy" and framing == "sse":
            ex.events.append((event_id, msg))
        if not isinstance(msg, dict):
            self.violation(ex, "server message is not a JSON object", msg)
            self.recorded.append(Recorded(ex, "invalid", None, msg, framing, event_id))
            return
        with self._lock:
            self.validated += 1  # every JSON object message is schema-validated by one branch below
        if ex.era == "legacy":
            self._legacy(ex, msg, framing, event_id)
        elif "method" in msg and "id" in msg:
            self._request(ex, msg, framing)
        elif "method" in msg:
            self._notification(ex, msg, framing)
        elif "error" in msg:
            self._error(ex, msg, framing)
        elif "result" in msg:
            self._result(ex, msg, framing)
        else:
            self.violation(ex, "server message is neither request, notification, result nor error", msg)
            self.recorded.append(Recorded(ex, "invalid", None, msg, framing))

    def _check_id(self, ex: Exchange, msg: dict[str, Any]) -> None:
        if ex.rpc_id is not None and msg.get("id") != ex.rpc_id:
            self.violation(ex, f"response id {msg.get('id')!r} != request id {ex.rpc_id!r}", msg)

    def _result(self, ex: Exchange, msg: dict[str, Any], framing: str) -> None:
        self._schema(ex, "JSONRPCResultResponse", msg, msg)
        self._check_id(ex, msg)
        if ex.status != 200:
            self.violation(ex, f"result sent with HTTP {ex.status}, expected 200", msg)
        result = msg.get("result")
        method = ex.rpc_method
        rtype = result.get("resultType") if isinstance(result, dict) else None
        if rtype == "input_required":
            definition = "InputRequiredResult"
            if method not in MRTR_METHODS:
                self.violation(ex, f"input_required result for {method}, which is not a multi round-trip method", msg)
            if isinstance(result, dict) and "inputRequests" not in result and "requestState" not in result:
                self.violation(ex, "InputRequiredResult has neither inputRequests nor requestState", msg)
        else:
            definition = RESULT_DEFS.get(method or "", "Result")
            if method not in RESULT_DEFS:
                self.violation(ex, f"result for unexpected request method {method!r}", msg)
            if rtype != "complete":
                self.violation(ex, f"resultType is {rtype!r}; expected 'complete' or 'input_required'", msg)
        self._schema(ex, definition, result, msg)
        if isinstance(result, dict):
            meta = result.get("_meta")
            if not (isinstance(meta, dict) and isinstance(meta.get(META_SERVER_INFO), dict)):
                self.violation(ex, f"result has no _meta {META_SERVER_INFO}", msg)
            if method == "subscriptions/listen" and isinstance(meta, dict) and meta.get(META_SUBSCRIPTION_ID) != ex.rpc_id:
                self.violation(ex, "listen result _meta subscriptionId != listen request id", msg)
        self.recorded.append(Recorded(ex, "result", definition, msg, framing))

    def _error(self, ex: Exchange, msg: dict[str, Any], framing: str) -> None:
        self._schema(ex, "JSONRPCErrorResponse", msg, msg)
        if msg.get("id") is not None:
            self._check_id(ex, msg)
        error = msg.get("error") if isinstance(msg.get("error"), dict) else {}
        definition = ERROR_DEFS.get(error.get("code"))  # type: ignore[arg-type]
        if definition is not None:
            self._schema(ex, definition, msg, msg)
            if framing == "json" and ex.status != 400:
                self.violation(ex, f"{definition} must be sent with HTTP 400, got {ex.status}", msg)
        self.recorded.append(Recorded(ex, "error", definition or "JSONRPCErrorResponse", msg, framing))

    def _request(self, ex: Exchange, msg: dict[str, Any], framing: str) -> None:
        self._schema(ex, "JSONRPCRequest", msg, msg)
        self.violation(ex, "server sent a JSON-RPC request; 2026-07-28 has no server-to-client requests", msg)
        self.recorded.append(Recorded(ex, "request", "JSONRPCRequest", msg, framing))

    def _notification(self, ex: Exchange, msg: dict[str, Any], framing: str) -> None:
        method = msg.get("method")
        definition = NOTIFICATION_DEFS.get(method)  # type: ignore[arg-type]
        if definition is None:
            self._schema(ex, "JSONRPCNotification", msg, msg)
            self.violation(ex, f"unknown server notification {method!r}", msg)
            self.recorded.append(Recorded(ex, "notification", "JSONRPCNotification", msg, framing))
            return
        self._schema(ex, definition, msg, msg)
        if framing != "sse":
            self.violation(ex, "notification sent as a plain JSON body, not on an SSE stream", msg)
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
        rmeta = ex.request_meta
        if ex.rpc_method == "subscriptions/listen":
            earlier = [m for m in ex.messages[:-1] if isinstance(m, dict) and "method" in m]
            if not earlier and method != "notifications/subscriptions/acknowledged":
                self.violation(ex, "first message on a listen stream is not notifications/subscriptions/acknowledged", msg)
            if meta.get(META_SUBSCRIPTION_ID) != ex.rpc_id:
                self.violation(ex, f"listen notification _meta subscriptionId {meta.get(META_SUBSCRIPTION_ID)!r} != listen id {ex.rpc_id!r}", msg)
            if method in ("notifications/progress", "notifications/message"):
                self.violation(ex, f"{method} on a listen stream", msg)
        else:
            if method == "notifications/subscriptions/acknowledged":
                self.violation(ex, "subscriptions/acknowledged outside a listen stream", msg)
            if method == "notifications/progress":
                token = rmeta.get("progressToken")
                if token is None:
                    self.violation(ex, "progress notification for a request without a progressToken", msg)
                elif params.get("progressToken") != token:
                    self.violation(ex, f"progressToken {params.get('progressToken')!r} != request's {token!r}", msg)
            if method == "notifications/message":
                want = rmeta.get(META_LOG_LEVEL)
                if want is None:
                    self.violation(ex, "log message for a request that did not opt in with _meta logLevel", msg)
                elif params.get("level") in LOG_LEVELS and want in LOG_LEVELS:
                    if LOG_LEVELS.index(params["level"]) < LOG_LEVELS.index(want):
                        self.violation(ex, f"log message at {params['level']!r} below the requested level {want!r}", msg)
        self.recorded.append(Recorded(ex, "notification", definition, msg, framing))

    # -- the legacy era ----------------------------------------------------------------------------

    def _legacy_response_checks(self, ex: Exchange) -> None:
        status = ex.status or 0
        sess = self.sessions.get(ex.session_id or "")
        if sess is not None and sess.deleted_after is not None and ex.seq > sess.deleted_after and status != 404:
            self.violation(ex, f"request on a session deleted before it was sent got HTTP {status}, expected 404")
        if ex.last_event_id is not None and status == 200 and ex.origin is None:
            other = [s.session_id for s in self.sessions.values() if ex.last_event_id in s.events and s is not sess]
            if other:
                self.violation(ex, f"GET with Last-Event-ID {ex.last_event_id!r} of another session was accepted (HTTP 200)")
        ctype = ex.content_type.split(";")[0].strip().lower()
        if ex.http_method == "POST":
            if ex.is_client_request:
                if status == 200 and ctype not in ("application/json", "text/event-stream"):
                    self.violation(ex, f"request answered with HTTP 200 and content type {ex.content_type!r}")
                if status == 202:
                    self.violation(ex, "a JSON-RPC request was answered with 202 Accepted")
                if ex.rpc_method == "initialize" and status == 200:
                    sid = ex.response_headers.get("mcp-session-id")
                    if sid is None:
                        self.violation(ex, "initialize response without an Mcp-Session-Id header")
                    elif not _visible_ascii(sid):
                        self.violation(ex, f"Mcp-Session-Id {sid!r} is not visible ASCII (0x21-0x7E)")
            elif isinstance(ex.request_body, list) and self._batch_requests(ex):
                if status == 200 and ctype not in ("application/json", "text/event-stream"):
                    self.violation(ex, f"batch answered with HTTP 200 and content type {ex.content_type!r}")
                if status == 202:
                    self.violation(ex, "a batch with requests was answered with 202 Accepted")
            elif isinstance(ex.request_body, (dict, list)):  # notification(s) or response(s)
                if status != 202 and status < 400:
                    self.violation(ex, f"a client notification/response was answered with HTTP {status}; expected 202 (or an error status)")
        elif ex.http_method == "GET" and status == 200 and ctype != "text/event-stream":
            self.violation(ex, f"GET answered with HTTP 200 and content type {ex.content_type!r}, not text/event-stream")

    @staticmethod
    def _batch_requests(ex: Exchange) -> list[dict[str, Any]]:
        """The requests of a JSON-RPC batch the client POSTed (2025-03-26 allows batches)."""
        body = ex.request_body
        if not isinstance(body, list):
            return []
        return [m for m in body if isinstance(m, dict) and "method" in m and "id" in m]

    def _request_for(self, origin: Exchange, msg: dict[str, Any]) -> dict[str, Any] | None:
        """The client request a response answers: the POSTed request, or the batch member with its id."""
        if origin.is_client_request:
            return origin.request_body
        for req in self._batch_requests(origin):
            if req.get("id") == msg.get("id"):
                return req
        return None

    def _legacy_version(self, ex: Exchange, msg: dict[str, Any]) -> tuple[str, LegacySession | None]:
        sess = self.sessions.get(ex.session_id or "")
        if sess is not None:
            return sess.version, sess
        if ex.rpc_method == "initialize" and isinstance(msg.get("result"), dict):
            pv = msg["result"].get("protocolVersion")
            if pv in LEGACY_VERSIONS:
                return pv, None
        pv = ex.request_headers.get("mcp-protocol-version")
        return (pv if pv in LEGACY_VERSIONS else LATEST_LEGACY), None

    def legacy_frame(self, ex: Exchange, event: str, data: str, event_id: str | None, retry: str | None) -> None:
        """One SSE frame (blank-line terminated) of a legacy stream."""
        ex.frames += 1
        if retry is not None:
            ex.retry_seen = True
        if data == "":
            if event_id is not None:
                if ex.data_events == 0:
                    ex.primed = True
                ex.events.append((event_id, None))
                sess = self.sessions.get(ex.session_id or "")
                # A resumed stream may re-prime with the Last-Event-ID itself: an empty event is not
                # dispatched, it only (re)sets the client's last-event-id cursor.
                if sess is not None and event_id != ex.last_event_id:
                    self._register_event(ex, sess, event_id, None)
            return
        if event != "message":
            self.violation(ex, f"SSE event type {event!r} (expected 'message')")
        if event_id is None:
            self.violation(ex, f"SSE event without an id: {data[:300]!r}")
        if ex.data_events == 0 and ex.last_event_id is None:
            if not ex.primed:
                self.violation(ex, "SSE stream does not start with a priming event (an id and empty data)")
            if not ex.retry_seen:
                self.violation(ex, "SSE stream sent no retry field before its first event")
        ex.data_events += 1
        self.record_raw(ex, data, "sse", event_id)

    def legacy_stream_ended(self, ex: Exchange) -> None:
        if ex.frames and not ex.retry_seen and ex.last_event_id is None:
            self.violation(ex, "SSE stream ended without ever sending a retry field")

    def _register_event(self, ex: Exchange, sess: LegacySession, event_id: str, msg: Any) -> bool:
        """Books an SSE event id; True when it repeats an event already seen (a replay)."""
        canon = json.dumps(msg, sort_keys=True) if msg is not None else ""
        origin_seq = ex.stream_origin.seq
        if ex.last_event_id is not None and event_id == ex.last_event_id:
            self.violation(ex, f"resumed stream repeated the Last-Event-ID event {event_id!r} itself", msg)
        prev = sess.events.get(event_id)
        if prev is None:
            sess.events[event_id] = (origin_seq, canon)
            return False
        if prev[0] != origin_seq:
            self.violation(ex, f"SSE event id {event_id!r} was already used on another stream (that of #{prev[0]})", msg)
        elif prev[1] != canon:
            self.violation(ex, f"SSE event id {event_id!r} reused for a different message", msg)
        return True

    def _legacy(self, ex: Exchange, msg: dict[str, Any], framing: str, event_id: str | None) -> None:
        version, sess = self._legacy_version(ex, msg)
        v = self.validator_for(version)
        replay = False
        if event_id is not None and sess is not None:
            replay = self._register_event(ex, sess, event_id, msg)
        origin = ex.stream_origin
        standalone = origin.http_method == "GET"
        if "method" in msg and "id" in msg:
            kind, definition = "request", self._legacy_request(ex, msg, framing, version, v, sess, replay)
        elif "method" in msg:
            kind, definition = "notification", self._legacy_notification(ex, msg, framing, version, v, sess, replay, standalone)
        elif "error" in msg:
            kind, definition = "error", self._legacy_error(ex, msg, version, v)
        elif "result" in msg:
            kind, definition = "result", self._legacy_result(ex, msg, framing, version, v, sess, standalone)
        else:
            self.violation(ex, "server message is neither request, notification, result nor error", msg)
            kind, definition = "invalid", None
        self.recorded.append(Recorded(ex, kind, definition, msg, framing, event_id))

    def _legacy_request(self, ex, msg, framing, version, v, sess, replay) -> str:
        self._schema(ex, "JSONRPCRequest", msg, msg, version)
        method = msg.get("method")
        definition = LEGACY_SERVER_REQUEST_DEFS.get(method)  # type: ignore[arg-type]
        if definition is None or not v.has(definition):
            self.violation(ex, f"server-to-client request {method!r} does not exist at protocol {version}", msg)
            definition = "JSONRPCRequest"
        else:
            self._schema(ex, definition, msg, msg, version)
        if framing != "sse":
            self.violation(ex, "server-to-client request outside an SSE stream", msg)
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        if sess is not None:
            cap = LEGACY_REQUEST_CAPABILITY.get(method)  # type: ignore[arg-type]
            caps = sess.client_capabilities
            if cap and not isinstance(caps.get(cap), dict):
                self.violation(ex, f"server sent {method} to a client that did not declare the {cap!r} capability", msg)
            if method == "elicitation/create" and isinstance(caps.get("elicitation"), dict):
                mode = params.get("mode", "form")
                declared = caps["elicitation"]
                if declared and mode not in declared:  # {} means form only (2025-11-25)
                    self.violation(ex, f"elicitation mode {mode!r} not declared by the client ({declared})", msg)
                if not declared and mode != "form":
                    self.violation(ex, f"elicitation mode {mode!r}, but the client declared form mode only", msg)
            if not replay:
                if msg.get("id") in sess.server_request_ids:
                    self.violation(ex, f"server reused request id {msg.get('id')!r} in this session", msg)
                sess.server_request_ids.add(msg.get("id"))
        return definition

    def _legacy_notification(self, ex, msg, framing, version, v, sess, replay, standalone) -> str:
        method = msg.get("method")
        definition = LEGACY_NOTIFICATION_DEFS.get(method)  # type: ignore[arg-type]
        if definition is None or not v.has(definition):
            self._schema(ex, "JSONRPCNotification", msg, msg, version)
            self.violation(ex, f"server notification {method!r} does not exist at protocol {version}", msg)
            return "JSONRPCNotification"
        self._schema(ex, definition, msg, msg, version)
        if framing != "sse":
            self.violation(ex, "notification sent as a plain JSON body, not on an SSE stream", msg)
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        scaps = sess.server_capabilities if sess is not None else None
        if method == "notifications/progress":
            if standalone:
                self.violation(ex, "progress notification on the standalone GET stream, not on its request's stream", msg)
            else:
                origin = ex.stream_origin
                token = origin.request_meta.get("progressToken")
                for req in self._batch_requests(origin):
                    meta = (req.get("params") or {}).get("_meta") if isinstance(req.get("params"), dict) else None
                    if isinstance(meta, dict) and meta.get("progressToken") == params.get("progressToken"):
                        token = params.get("progressToken")
                if token is None:
                    self.violation(ex, "progress notification for a request without a progressToken", msg)
                elif params.get("progressToken") != token:
                    self.violation(ex, f"progressToken {params.get('progressToken')!r} != request's {token!r}", msg)
                elif sess is not None and not replay and isinstance(params.get("progress"), (int, float)):
                    key = json.dumps(token)
                    last = sess.progress.get(key)
                    if last is not None and params["progress"] <= last:
                        self.violation(ex, f"progress {params['progress']} does not increase (previous {last})", msg)
                    sess.progress[key] = params["progress"]
        elif method == "notifications/message" and sess is not None:
            if not isinstance(scaps.get("logging"), dict):
                self.violation(ex, "log message from a server that did not declare the logging capability", msg)
            if sess.log_level is None:
                self.violation(ex, "log message before the client sent logging/setLevel (server contract: none before)", msg)
            elif params.get("level") in LOG_LEVELS and LOG_LEVELS.index(params["level"]) < LOG_LEVELS.index(sess.log_level):
                self.violation(ex, f"log message at {params['level']!r} below the level set ({sess.log_level!r})", msg)
        elif method == "notifications/resources/updated" and sess is not None:
            if not (isinstance(scaps.get("resources"), dict) and scaps["resources"].get("subscribe") is True):
                self.violation(ex, "resources/updated from a server that did not declare resources.subscribe", msg)
            if params.get("uri") not in sess.subscriptions:
                self.violation(ex, f"resources/updated for {params.get('uri')!r}, which the session did not subscribe to (subscribed: {sorted(sess.subscriptions)})", msg)
        elif method in LIST_CHANGED_CAPABILITY and sess is not None:
            cap = scaps.get(LIST_CHANGED_CAPABILITY[method])
            if not (isinstance(cap, dict) and cap.get("listChanged") is True):
                self.violation(ex, f"{method} from a server that did not declare {LIST_CHANGED_CAPABILITY[method]}.listChanged", msg)
        return definition

    def _legacy_error(self, ex, msg, version, v) -> str:
        if msg.get("id") is None:  # HTTP-level errors: 2025-11-25 is the first schema with an optional id
            version, v = LATEST_LEGACY, self.validator_for(LATEST_LEGACY)
        definition = "JSONRPCErrorResponse" if v.has("JSONRPCErrorResponse") else "JSONRPCError"
        self._schema(ex, definition, msg, msg, version)
        origin = ex.stream_origin
        if msg.get("id") is not None and origin.is_client_request and msg.get("id") != origin.rpc_id:
            self.violation(ex, f"error id {msg.get('id')!r} != request id {origin.rpc_id!r}", msg)
        if msg.get("id") is not None and self._batch_requests(origin) and self._request_for(origin, msg) is None:
            self.violation(ex, f"error id {msg.get('id')!r} answers no request of the batch", msg)
        return definition

    def _legacy_result(self, ex, msg, framing, version, v, sess, standalone) -> str:
        envelope = "JSONRPCResultResponse" if v.has("JSONRPCResultResponse") else "JSONRPCResponse"
        self._schema(ex, envelope, msg, msg, version)
        origin = ex.stream_origin
        if standalone:
            self.violation(ex, "JSON-RPC response on the standalone GET stream", msg)
        if origin.is_client_request and msg.get("id") != origin.rpc_id:
            self.violation(ex, f"response id {msg.get('id')!r} != request id {origin.rpc_id!r}", msg)
        request = self._request_for(origin, msg)
        if request is None and self._batch_requests(origin):
            self.violation(ex, f"response id {msg.get('id')!r} answers no request of the batch", msg)
        if framing == "json" and ex.status != 200:
            self.violation(ex, f"result sent with HTTP {ex.status}, expected 200", msg)
        method = (request or {}).get("method") or ""
        definition, result = self._check_legacy_result(ex, msg, method, version, complain_unknown=True)
        if result is None:
            return definition
        params = (request or {}).get("params")
        params = params if isinstance(params, dict) else {}
        if method == "initialize":
            self._legacy_session_started(ex, result, params)
        elif sess is not None and method == "logging/setLevel":
            sess.log_level = params.get("level")
        elif sess is not None and method == "resources/subscribe":
            sess.subscriptions.add(params.get("uri"))
        elif sess is not None and method == "resources/unsubscribe":
            sess.subscriptions.discard(params.get("uri"))
        return definition

    def _check_legacy_result(self, ex, msg, method: str, version: str, complain_unknown: bool) -> tuple[str, dict[str, Any] | None]:
        """Validates a session-era result against the definition of the method it answers (`Result` for an unknown
        one, a violation when `complain_unknown`); a 2026-07-28 `resultType` is a violation. Returns the definition
        and the result when it is an object."""
        definition = LEGACY_RESULT_DEFS.get(method)
        if method == "tools/call":
            request = self._request_for(ex.stream_origin, msg) or {}
            if isinstance(request.get("params"), dict) and request["params"].get("task") is not None:
                definition = "CreateTaskResult"
        result = msg.get("result")
        if definition is None:
            if complain_unknown:
                self.violation(ex, f"result for unexpected request method {method!r}", msg)
            definition = "Result"
        self._schema(ex, definition, result, msg, version)
        if not isinstance(result, dict):
            return definition, None
        if "resultType" in result:
            self.violation(ex, "resultType (a 2026-07-28 member) in a legacy result", msg)
        return definition, result

    def _legacy_session_started(self, ex: Exchange, result: dict[str, Any], params: dict[str, Any]) -> None:
        requested = params.get("protocolVersion")
        answered = result.get("protocolVersion")
        expected = requested if requested in LEGACY_VERSIONS else LATEST_LEGACY
        if answered != expected:
            self.violation(ex, f"initialize asked for {requested!r}; the server answered {answered!r}, expected {expected!r}", result)
        sid = ex.response_headers.get("mcp-session-id")
        if not sid:
            return  # reported in _legacy_response_checks
        with self._lock:
            if sid in self.sessions:
                self.violation(ex, f"the server minted session id {sid!r} twice")
            caps = params.get("capabilities")
            scaps = result.get("capabilities")
            self.sessions[sid] = LegacySession(
                session_id=sid,
                version=answered if answered in LEGACY_VERSIONS else LATEST_LEGACY,
                client_capabilities=caps if isinstance(caps, dict) else {},
                server_capabilities=scaps if isinstance(scaps, dict) else {},
            )

    def legacy_deleted(self, ex: Exchange) -> None:
        sess = self.sessions.get(ex.session_id or "")
        if sess is not None and ex.status == 200 and sess.deleted_after is None:
            with self._lock:
                sess.deleted_after = len(self.exchanges)


class _SSEParser:
    """Incremental text/event-stream parser (WHATWG rules) that hands each event's data on.

    With `on_frame`, every blank-line-terminated frame (also one without data, like a priming event)
    goes to `on_frame(event, data, id, retry)` instead, with the `id` and `retry` fields of that frame."""

    def __init__(self, on_event, on_frame=None) -> None:
        self.on_event = on_event
        self.on_frame = on_frame
        self.buf = b""
        self.data: list[str] = []
        self.event = ""
        self.ids: list[str] = []  # SSE `id:` fields seen (resumable streams)
        self.frame_id: str | None = None
        self.frame_retry: str | None = None
        self.frame_lines = 0

    def feed(self, chunk: bytes) -> None:
        self.buf += chunk
        while True:
            found = [i for i in (self.buf.find(b"\n"), self.buf.find(b"\r")) if i >= 0]
            if not found:
                return
            idx = min(found)
            if self.buf[idx] == 0x0D:
                if idx + 1 >= len(self.buf):
                    return  # wait: could be CRLF
                line, rest = self.buf[:idx], self.buf[idx + (2 if self.buf[idx + 1] == 0x0A else 1):]
            else:
                line, rest = self.buf[:idx], self.buf[idx + 1:]
            self.buf = rest
            self._line(line.decode("utf-8", "replace"))

    def close(self) -> None:
        """End of stream: a line ended by a lone CR at the very end still counts; an unterminated
        event is discarded (as the WHATWG rules say)."""
        if self.buf.endswith(b"\r"):
            self.buf = self.buf[:-1]
            self._line(self.buf.decode("utf-8", "replace"))
            self.buf = b""

    def _line(self, line: str) -> None:
        if line == "":
            data = "\n".join(self.data)
            if self.on_frame is not None:
                if self.frame_lines:
                    self.on_frame(self.event or "message", data, self.frame_id, self.frame_retry)
            elif data:  # an empty data buffer (e.g. a priming event) is not dispatched
                self.on_event(self.event or "message", data)
            self.data, self.event = [], ""
            self.frame_id, self.frame_retry, self.frame_lines = None, None, 0
            return
        if line.startswith(":"):
            return
        self.frame_lines += 1
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self.data.append(value)
        elif name == "event":
            self.event = value
        elif name == "id":
            self.ids.append(value)
            self.frame_id = value
        elif name == "retry":
            self.frame_retry = value


class _TeeStreamBase:
    def __init__(self, inner: Any, recorder: WireRecorder, ex: Exchange) -> None:
        self.inner = inner
        self.recorder = recorder
        self.ex = ex
        self.body = bytearray()
        ctype = ex.content_type.split(";")[0].strip().lower()
        self.legacy = ex.era == "legacy"
        on_frame = self._on_frame if self.legacy else None
        self.sse = _SSEParser(self._on_event, on_frame) if ctype == "text/event-stream" else None
        self.is_json = ctype == "application/json"
        self.done = False
        self.flagged_202 = False

    def _on_event(self, event: str, data: str) -> None:
        if event != "message":
            self.recorder.violation(self.ex, f"SSE event type {event!r} (expected 'message')")
            return
        self.recorder.record_raw(self.ex, data, "sse")

    def _on_frame(self, event: str, data: str, event_id: str | None, retry: str | None) -> None:
        self.recorder.legacy_frame(self.ex, event, data, event_id, retry)

    def feed(self, chunk: bytes) -> None:
        try:
            if self.ex.status == 202 and chunk and not self.flagged_202:
                self.flagged_202 = True
                self.recorder.violation(self.ex, f"202 Accepted with a body: {bytes(chunk[:200])!r}")
            if self.sse is not None:
                self.sse.feed(chunk)
            else:
                self.body.extend(chunk)
        except Exception as exc:  # never disturb the client under test
            self.recorder.violation(self.ex, f"tee failed: {exc!r}")

    async def __aiter__(self):
        async for chunk in self.inner:
            self.feed(chunk)
            yield chunk
        self.finish()

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        self.ex.complete = True
        try:
            if self.sse is not None:
                self.sse.close()
                self.ex.sse_ids = list(self.sse.ids)
                if self.legacy:
                    self.recorder.legacy_stream_ended(self.ex)
            if self.is_json and self.body:
                self.recorder.record_raw(self.ex, bytes(self.body), "json")
            elif self.sse is None and self.body:
                self.ex.raw_tail = bytes(self.body[:500])
        except Exception as exc:  # never disturb the client under test
            self.recorder.violation(self.ex, f"tee failed: {exc!r}")

    async def aclose(self) -> None:
        # Aborted before the end (cancellation, leaving a listen): a partial JSON body is not judged.
        await self.inner.aclose()


_TEE_CLASSES: dict[str, Any] = {}


def make_tee_transport(http_module: Any) -> Any:
    """The tee transport class for an httpx-compatible module: `httpx2` (mcp 2.x) or `httpx` (mcp 1.x)."""
    name = http_module.__name__
    if name in _TEE_CLASSES:
        return _TEE_CLASSES[name]

    class _TeeStream(_TeeStreamBase, http_module.AsyncByteStream):
        pass

    class _TeeTransport(http_module.AsyncBaseTransport):
        def __init__(self, recorder: WireRecorder, inner: Any = None) -> None:
            self.recorder = recorder
            self.inner = inner or http_module.AsyncHTTPTransport()

        async def handle_async_request(self, request: Any) -> Any:
            try:
                raw = request.content
            except http_module.RequestNotRead:
                raw = await request.aread()
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
            ex = self.recorder.new_exchange(request, body)
            response = await self.inner.handle_async_request(request)
            self.recorder.response_started(ex, response)
            if ex.era == "legacy" and request.method == "DELETE":
                self.recorder.legacy_deleted(ex)
            tee = _TeeStream(response.stream, self.recorder, ex)
            if hasattr(response, "_content"):  # a body that was read already (e.g. a mock transport)
                tee.feed(response.content)
                tee.finish()
            else:
                response.stream = tee
            return response

        async def aclose(self) -> None:
            await self.inner.aclose()

    _TeeTransport.__name__ = _TeeTransport.__qualname__ = f"TeeTransport[{name}]"
    _TEE_CLASSES[name] = _TeeTransport
    return _TeeTransport


TeeTransport = make_tee_transport(httpx2)
