"""Client-side capture and schema validation of every message the server sends.

`TeeTransport` wraps the real httpx2 transport that the MCP Python client uses. It sees each HTTP
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


def _format_checker() -> FormatChecker:
    """Draft 2020-12 format checks (formats are only annotations unless asserted; this suite asserts
    them), with "uri" widened to IRIs: MCP resource URIs need not be ASCII (the Mcp-Name header has a
    base64 form for exactly that), so an IRI is mapped to a URI as RFC 3987 section 3.1 says
    (percent-encode the UTF-8 of every non-ASCII character) before the RFC 3986 check."""
    checker = copy.deepcopy(Draft202012Validator.FORMAT_CHECKER)
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
    """Validates instances against named definitions of one MCP schema file."""

    def __init__(self, schema_path: Path) -> None:
        self.path = schema_path
        self.schema = json.loads(schema_path.read_text(encoding="utf-8"))
        self.defs: dict[str, Any] = self.schema.get("$defs") or self.schema.get("definitions") or {}
        if not self.defs:
            raise ValueError(f"{schema_path}: no $defs")
        self._key = "$defs" if "$defs" in self.schema else "definitions"
        Draft202012Validator.check_schema(self.schema)
        self._validators: dict[str, Draft202012Validator] = {}
        self._formats = _format_checker()
        self._lock = threading.Lock()

    def validator(self, definition: str) -> Draft202012Validator:
        if definition not in self.defs:
            raise KeyError(f"schema has no definition {definition!r}")
        with self._lock:
            v = self._validators.get(definition)
            if v is None:
                root = {
                    "$schema": self.schema.get("$schema", "https://json-schema.org/draft/2020-12/schema"),
                    self._key: self.defs,
                    "$ref": f"#/{self._key}/{definition}",
                }
                v = Draft202012Validator(root, format_checker=self._formats)
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

    def describe(self) -> str:
        return f"#{self.seq} {self.http_method} {self.rpc_method or '-'} id={self.rpc_id!r} -> HTTP {self.status} {self.content_type}"


@dataclass
class Recorded:
    exchange: Exchange
    kind: str  # result | error | notification | request | invalid
    definition: str | None
    message: Any
    framing: str  # json | sse


class WireRecorder:
    """Collects and validates everything the server sends, across all clients of a test session."""

    def __init__(self, validator: SchemaValidator) -> None:
        self.validator = validator
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

    def new_exchange(self, request: httpx2.Request, body: Any) -> Exchange:
        with self._lock:
            ex = Exchange(
                seq=len(self.exchanges) + 1,
                http_method=request.method,
                url=str(request.url),
                request_headers={k.lower(): v for k, v in request.headers.items()},
                request_body=body,
            )
            self.exchanges.append(ex)
            return ex

    def violation(self, ex: Exchange | None, text: str, message: Any = None) -> None:
        where = ex.describe() if ex else "?"
        line = f"[{where}] {text}"
        if message is not None:
            line += f"\n      message: {json.dumps(message)[:1500]}"
        with self._lock:
            self.violations.append(line)

    # -- validation --------------------------------------------------------------------------------

    def _schema(self, ex: Exchange, definition: str, instance: Any, whole: Any) -> None:
        errs = self.validator.errors(definition, instance)
        with self._lock:
            self.by_definition[definition] = self.by_definition.get(definition, 0) + 1
        for e in errs:
            self.violation(ex, "schema: " + e, whole)

    def record_raw(self, ex: Exchange, data: bytes | str, framing: str) -> None:
        """One complete JSON body or one SSE event's data."""
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        try:
            msg = json.loads(text)
        except ValueError as exc:
            self.violation(ex, f"server sent a body/event that is not JSON ({exc}): {text[:300]!r}")
            self.recorded.append(Recorded(ex, "invalid", None, text, framing))
            return
        if isinstance(msg, list):
            self.violation(ex, "server sent a JSON-RPC batch; 2026-07-28 has no batches", msg)
            for m in msg:
                self.record(ex, m, framing)
            return
        self.record(ex, msg, framing)

    def record(self, ex: Exchange, msg: Any, framing: str) -> None:
        ex.messages.append(msg)
        if not isinstance(msg, dict):
            self.violation(ex, "server message is not a JSON object", msg)
            self.recorded.append(Recorded(ex, "invalid", None, msg, framing))
            return
        with self._lock:
            self.validated += 1  # every JSON object message is schema-validated by one branch below
        if "method" in msg and "id" in msg:
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


class _SSEParser:
    """Incremental text/event-stream parser (WHATWG rules) that hands each event's data on."""

    def __init__(self, on_event) -> None:
        self.on_event = on_event
        self.buf = b""
        self.data: list[str] = []
        self.event = ""
        self.ids: list[str] = []  # SSE `id:` fields seen (resumable streams)

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
            if data:  # an empty data buffer (e.g. a priming event) is not dispatched
                self.on_event(self.event or "message", data)
            self.data, self.event = [], ""
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self.data.append(value)
        elif name == "event":
            self.event = value
        elif name == "id":
            self.ids.append(value)


class _TeeStream(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, recorder: WireRecorder, ex: Exchange) -> None:
        self.inner = inner
        self.recorder = recorder
        self.ex = ex
        self.body = bytearray()
        ctype = ex.content_type.split(";")[0].strip().lower()
        self.sse = _SSEParser(self._on_event) if ctype == "text/event-stream" else None
        self.is_json = ctype == "application/json"
        self.done = False

    def _on_event(self, event: str, data: str) -> None:
        if event != "message":
            self.recorder.violation(self.ex, f"SSE event type {event!r} (expected 'message')")
            return
        self.recorder.record_raw(self.ex, data, "sse")

    def feed(self, chunk: bytes) -> None:
        try:
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
        if self.sse is not None:
            self.sse.close()
            self.ex.sse_ids = list(self.sse.ids)
        if self.is_json and self.body:
            self.recorder.record_raw(self.ex, bytes(self.body), "json")
        elif self.sse is None and self.body:
            self.ex.raw_tail = bytes(self.body[:500])

    async def aclose(self) -> None:
        # Aborted before the end (cancellation, leaving a listen): a partial JSON body is not judged.
        await self.inner.aclose()


class TeeTransport(httpx2.AsyncBaseTransport):
    def __init__(self, recorder: WireRecorder, inner: httpx2.AsyncBaseTransport | None = None) -> None:
        self.recorder = recorder
        self.inner = inner or httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            raw = request.content
        except httpx2.RequestNotRead:
            raw = await request.aread()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        ex = self.recorder.new_exchange(request, body)
        response = await self.inner.handle_async_request(request)
        ex.status = response.status_code
        ex.content_type = response.headers.get("content-type", "")
        tee = _TeeStream(response.stream, self.recorder, ex)
        if hasattr(response, "_content"):  # a body that was read already (e.g. a mock transport)
            tee.feed(response.content)
            tee.finish()
        else:
            response.stream = tee
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
