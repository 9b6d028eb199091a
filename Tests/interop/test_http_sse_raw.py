"""The deprecated 2024-11-05 "HTTP+SSE" transport (basic/transports.mdx of 2024-11-05), driven by hand with httpx2.

`GET /sse` opens a session and its one stream: the first event is `endpoint` (data: the relative URL
`/messages?sessionId=<id>`), then `message` events, each one JSON-RPC message. The client POSTs every message to
that URL; success is `202` with an empty body, and the answer travels on the stream. Closing the GET ends the session.

This file is also the suite's library for that transport (the cluster suite imports it, as it imports
`legacy_http`; nothing here is copied there):

* `HttpSseWire`: a `WireRecorder` (interop_wire.py) that judges the exchanges of this transport. Plugged into the
  same tee (`TeeTransport`, or `make_tee_transport(httpx)` for mcp 1.x), it sees every byte of each stream and
  validates every message the server writes on it against `Tests/fixtures/schema/<negotiated version>/schema.json`:
  results by the method of the request they answer (found by id among the requests POSTed for that session), server
  requests, notifications and errors with the same rules as the Streamable HTTP legacy era (it reuses that code), plus
  this transport's rules: `endpoint` first and once, then only `message` events, no event ids; a response only for a
  request in flight of that session, once, never for a refused POST; a batch's responses as one JSON array event
  (2024-11-05 and 2025-03-26 only); progress only for a request in flight, with its token, increasing;
  `initialize` negotiates what it asks among 2024-11-05 .. 2025-11-25, else 2025-11-25; `202` with no body for
  an accepted POST, a JSON-RPC error body (no id) for a refused one; the stream's headers.
* `open_sse`, `sse_session`, `SseClient`: a raw session whose POSTs can be sent to any server or replica.
* `bad_posts`, `refusal_problems`: the bad inputs every server and replica must refuse.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, quote, urlsplit

import anyio
import pytest

from demo_contract import STATIC_RESOURCES, TOOLS
from interop_wire import (
    LATEST_LEGACY,
    LegacySession,
    Recorded,
    WireRecorder,
    make_tee_transport,
)
from legacy_http import Frame, sse_frames

SSE_PATH = "/sse"
MESSAGES_PATH = "/messages"
# What initialize may negotiate over this transport (anything else gets 2025-11-25).
HTTP_SSE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
# The versions whose sessions accept JSON-RPC batches.
BATCH_VERSIONS = ("2024-11-05", "2025-03-26")
MAX_BODY = 4 * 1024 * 1024
EVIL_ORIGIN = "http://evil.example"
GONE_WORDS = "SSE stream"  # what a 404 for a session that is gone must say (case-insensitive)


def negotiated(requested: Any) -> str:
    return requested if requested in HTTP_SSE_VERSIONS else LATEST_LEGACY


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def session_id_of(url: str) -> str | None:
    values = parse_qs(urlsplit(url).query, keep_blank_values=True).get("sessionId")
    return values[0] if values else None


# --------------------------------------------------------------------------------------------------
# The validating recorder
# --------------------------------------------------------------------------------------------------


@dataclass
class SseSessionState(LegacySession):
    """What the recorder knows about one HTTP+SSE session (keyed by the sessionId of its endpoint event). The
    fields of `LegacySession` let the legacy era's request / notification / error checks run on it unchanged."""

    stream: Any = None  # the GET exchange
    requested: Any = None  # the protocolVersion initialize asked for
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> request POSTed and not yet answered
    refused: set[str] = field(default_factory=set)  # ids of requests whose POST was refused
    batches: list[set[str]] = field(default_factory=list)  # ids of the requests of each batch POSTed
    tokens: dict[str, str] = field(default_factory=dict)  # progress token -> id of its request
    messages: list[Any] = field(default_factory=list)  # every message written on the stream, in order
    ended: bool = False  # the server ended the stream (the body came to its end)


class HttpSseWire(WireRecorder):
    """A `WireRecorder` that judges the HTTP+SSE transport's exchanges (GET on a stream path, POST on a message
    path) by the rules in this module's docstring, and leaves every other exchange to the base class."""

    def __init__(
        self,
        validator: Any,
        schema_root: Any = None,
        sse_paths: tuple[str, ...] = (SSE_PATH,),
        messages_paths: tuple[str, ...] = (MESSAGES_PATH,),
    ) -> None:
        super().__init__(validator, schema_root)
        self.sse_paths = set(sse_paths)
        self.messages_paths = set(messages_paths)
        self.sse_sessions: dict[str, SseSessionState] = {}
        self._kinds: dict[int, str] = {}  # exchange seq -> "stream" | "post"
        self._stream_sessions: dict[int, SseSessionState] = {}  # GET exchange seq -> its session

    # -- which exchanges are ours ----------------------------------------------------------------------------------

    def kind(self, ex: Any) -> str | None:
        return self._kinds.get(ex.seq)

    def stream_of(self, session_id: str) -> Any:
        """The GET exchange of a session."""
        return self.sse_sessions[session_id].stream

    def posts_of(self, session_id: str, exchanges: list[Any] | None = None) -> list[Any]:
        """The POST exchanges sent for a session."""
        return [
            e for e in (self.exchanges if exchanges is None else exchanges)
            if self.kind(e) == "post" and session_id_of(e.url) == session_id
        ]

    def new_exchange(self, request: Any, body: Any) -> Any:
        ex = super().new_exchange(request, body)
        path = urlsplit(str(request.url)).path
        if request.method == "GET" and path in self.sse_paths:
            kind = "stream"
        elif request.method == "POST" and path in self.messages_paths:
            kind = "post"
        else:
            return ex
        ex.era = "legacy"  # the tee then hands every SSE frame to legacy_frame, as it arrives
        with self._lock:
            self._kinds[ex.seq] = kind
        if kind == "post":
            self._posted(ex)
        return ex

    def _posted(self, ex: Any) -> None:
        """Books the requests a POST carries, before it is sent (so before any answer can arrive)."""
        sess = self.sse_sessions.get(session_id_of(ex.url) or "")
        if sess is None:
            return
        body = ex.request_body
        ids = set()
        for m in body if isinstance(body, list) else [body]:
            if not (isinstance(m, dict) and "method" in m and "id" in m):
                continue
            key = _key(m["id"])
            sess.pending[key] = m
            sess.refused.discard(key)
            ids.add(key)
            params = m.get("params") if isinstance(m.get("params"), dict) else {}
            meta = params.get("_meta") if isinstance(params.get("_meta"), dict) else {}
            if "progressToken" in meta:
                sess.tokens[_key(meta["progressToken"])] = key
            if m["method"] == "initialize":
                sess.requested = params.get("protocolVersion")
                caps = params.get("capabilities")
                sess.client_capabilities = caps if isinstance(caps, dict) else {}
        if isinstance(body, list) and ids:
            sess.batches.append(ids)

    # -- responses to the client's HTTP requests --------------------------------------------------------------------

    def response_started(self, ex: Any, response: Any) -> None:
        kind = self.kind(ex)
        if kind is None:
            return super().response_started(ex, response)
        ex.status = response.status_code
        ex.content_type = response.headers.get("content-type", "")
        ex.response_headers = {k.lower(): v for k, v in response.headers.items()}
        status = ex.status or 0
        ctype = ex.content_type.split(";")[0].strip().lower()
        if kind == "stream":
            if status == 200:
                if ctype != "text/event-stream":
                    self.violation(ex, f"GET of the SSE endpoint answered 200 with content type {ex.content_type!r}")
                if "no-cache" not in ex.response_headers.get("cache-control", "").lower():
                    self.violation(ex, f"SSE stream without Cache-Control: no-cache ({ex.response_headers.get('cache-control')!r})")
                # (nginx acts on X-Accel-* headers and never passes them on: judged only on a replica's own answer,
                # not on one that came through nginx, which the cluster suite's nginx marks with X-Upstream)
                if "x-upstream" not in ex.response_headers and ex.response_headers.get("x-accel-buffering", "").lower() != "no":
                    self.violation(ex, f"SSE stream without X-Accel-Buffering: no ({ex.response_headers.get('x-accel-buffering')!r})")
            elif 400 <= status < 500 and status != 404 and ctype != "application/json":
                self.violation(ex, f"GET of the SSE endpoint refused with HTTP {status} without a JSON-RPC error body ({ex.content_type!r})")
            return
        # a POST
        if status != 202:
            sess = self.sse_sessions.get(session_id_of(ex.url) or "")
            if sess is not None:
                body = ex.request_body
                for m in body if isinstance(body, list) else [body]:
                    if isinstance(m, dict) and "method" in m and "id" in m:
                        key = _key(m["id"])
                        if sess.pending.pop(key, None) is not None:
                            sess.refused.add(key)
        if 200 <= status < 400 and status != 202:
            self.violation(ex, f"POST of a message answered with HTTP {status}; the transport answers 202 (or refuses with 4xx/5xx)")
        elif 400 <= status < 500 and ctype != "application/json":
            self.violation(ex, f"POST refused with HTTP {status} without a JSON-RPC error body ({ex.content_type!r})")

    def record_raw(self, ex: Any, data: Any, framing: str, event_id: str | None = None) -> None:
        if self.kind(ex) is None:
            return super().record_raw(ex, data, framing, event_id)
        # A JSON body of ours: the error that refuses a POST (or a GET).
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        try:
            msg = json.loads(text)
        except ValueError as exc:
            self.violation(ex, f"error body that is not JSON ({exc}): {text[:300]!r}")
            return
        ex.messages.append(msg)
        if (ex.status or 0) < 400:
            self.violation(ex, f"HTTP {ex.status} with a JSON body; an accepted POST has none", msg)
        if not (isinstance(msg, dict) and isinstance(msg.get("error"), dict) and "result" not in msg and "method" not in msg):
            self.violation(ex, "refusal body is not a JSON-RPC error", msg)
            self.recorded.append(Recorded(ex, "invalid", None, msg, framing))
            return
        if msg.get("id") is not None:
            self.violation(ex, f"refusal of the HTTP request carries id {msg.get('id')!r}; the transport has no request to name", msg)
        with self._lock:
            self.validated += 1
        # JSON-RPC 2.0 says id null when there is no id; 2025-11-25's schema (the first where an error may lack an
        # id) says absent: judged without a null id.
        instance = {k: v for k, v in msg.items() if not (k == "id" and v is None)}
        self._schema(ex, "JSONRPCErrorResponse", instance, msg, LATEST_LEGACY)
        self.recorded.append(Recorded(ex, "error", "JSONRPCErrorResponse", msg, framing))

    # -- the stream ---------------------------------------------------------------------------------------------------

    def legacy_frame(self, ex: Any, event: str, data: str, event_id: str | None, retry: str | None) -> None:
        if self.kind(ex) != "stream":
            return super().legacy_frame(ex, event, data, event_id, retry)
        ex.frames += 1
        if retry is not None:
            ex.retry_seen = True
        if event_id is not None:
            self.violation(ex, f"SSE event with an id ({event_id!r}): the HTTP+SSE transport has no resumption, and no ids")
        sess = self._stream_sessions.get(ex.seq)
        if sess is None:
            if event != "endpoint":
                self.violation(ex, f"the stream's first event is {event!r} ({data[:200]!r}), not 'endpoint'")
                return
            self._endpoint(ex, data)
            return
        if event == "endpoint":
            self.violation(ex, f"a second endpoint event: {data[:200]!r}")
            return
        if event != "message":
            self.violation(ex, f"SSE event type {event!r} (expected 'message'): {data[:200]!r}")
            return
        if data == "":
            return  # an empty event is never dispatched (WHATWG); harmless
        ex.data_events += 1
        try:
            msg = json.loads(data)
        except ValueError as exc:
            self.violation(ex, f"message event whose data is not JSON ({exc}): {data[:300]!r}")
            return
        sess.messages.append(msg)
        self._stream_message(ex, sess, msg)

    def _endpoint(self, ex: Any, data: str) -> None:
        parts = urlsplit(data)
        if parts.scheme or parts.netloc or not data.startswith("/"):
            self.violation(ex, f"endpoint {data!r} is not a relative URL with an absolute path")
        if parts.path not in self.messages_paths:
            self.violation(ex, f"endpoint {data!r} names path {parts.path!r}, not one of {sorted(self.messages_paths)}")
        query = parse_qs(parts.query, keep_blank_values=True)
        sid = (query.get("sessionId") or [""])[0]
        if set(query) != {"sessionId"} or len(query["sessionId"]) != 1 or not sid:
            self.violation(ex, f"endpoint {data!r} does not carry exactly one non-empty sessionId")
        if not all(0x21 <= ord(c) <= 0x7E for c in sid):
            self.violation(ex, f"session id {sid!r} is not visible ASCII")
        with self._lock:
            if sid in self.sse_sessions:
                self.violation(ex, f"the server minted session id {sid!r} twice")
            sess = SseSessionState(session_id=sid, version="2024-11-05", client_capabilities={}, server_capabilities={}, stream=ex)
            self.sse_sessions[sid] = sess
            self._stream_sessions[ex.seq] = sess

    def legacy_stream_ended(self, ex: Any) -> None:
        if self.kind(ex) != "stream":
            return super().legacy_stream_ended(ex)
        sess = self._stream_sessions.get(ex.seq)
        if sess is not None:
            sess.ended = True
        elif ex.status == 200:
            self.violation(ex, "the SSE stream ended before its endpoint event")

    def _stream_message(self, ex: Any, sess: SseSessionState, msg: Any) -> None:
        version = sess.version if sess.version in HTTP_SSE_VERSIONS else LATEST_LEGACY
        v = self.validator_for(version)
        if isinstance(msg, list):
            if version not in BATCH_VERSIONS:
                self.violation(ex, f"a JSON array event in a {version} session (batches are for 2024-11-05 and 2025-03-26)", msg)
            ids = {_key(m.get("id")) for m in msg if isinstance(m, dict)}
            if not msg or not any(ids == b for b in sess.batches):
                self.violation(ex, "array event that is not the responses of exactly one batch the client POSTed", msg)
            for m in msg:
                if not (isinstance(m, dict) and "method" not in m and ("result" in m or "error" in m)):
                    self.violation(ex, "member of an array event that is not a response", m)
                self._one(ex, sess, m, version, v, in_batch=True)
            return
        self._one(ex, sess, msg, version, v, in_batch=False)

    def _one(self, ex: Any, sess: SseSessionState, msg: Any, version: str, v: Any, in_batch: bool) -> None:
        ex.messages.append(msg)
        ex.events.append((None, msg))
        if not isinstance(msg, dict):
            self.violation(ex, "server message is not a JSON object", msg)
            self.recorded.append(Recorded(ex, "invalid", None, msg, "sse"))
            return
        with self._lock:
            self.validated += 1
        if "method" in msg and "id" in msg:
            # the legacy era's checks: the definition at this version, the client's capability, unique ids
            kind, definition = "request", self._legacy_request(ex, msg, "sse", version, v, sess, False)
            if in_batch:
                self.violation(ex, "server request inside an array event", msg)
        elif "method" in msg:
            kind, definition = "notification", self._sse_notification(ex, sess, msg, version, v)
        elif "error" in msg:
            kind, definition = "error", self._legacy_error(ex, msg, version, v)
            self._answered(ex, sess, msg, in_batch)
        elif "result" in msg:
            kind, definition = "result", self._sse_result(ex, sess, msg, version, v, in_batch)
        else:
            self.violation(ex, "server message is neither request, notification, result nor error", msg)
            kind, definition = "invalid", None
        self.recorded.append(Recorded(ex, kind, definition, msg, "sse"))

    def _answered(self, ex: Any, sess: SseSessionState, msg: dict[str, Any], in_batch: bool) -> dict[str, Any] | None:
        """The request a response answers (taken off the requests in flight); violations for anything else."""
        if msg.get("id") is None:
            self.violation(ex, "response without an id on the stream (refusals are HTTP errors of the POST)", msg)
            return None
        key = _key(msg["id"])
        if key in sess.refused:
            self.violation(ex, f"response to request {msg['id']!r}, whose POST the server refused", msg)
            return None
        request = sess.pending.pop(key, None)
        if request is None:
            self.violation(ex, f"response id {msg['id']!r} answers no request of this session in flight (unknown, or answered already)", msg)
            return None
        batched = any(key in b for b in sess.batches)
        if batched and not in_batch:
            self.violation(ex, f"response to batched request {msg['id']!r} outside the batch's array event", msg)
        return request

    def _sse_result(self, ex: Any, sess: SseSessionState, msg: dict[str, Any], version: str, v: Any, in_batch: bool) -> str:
        request = self._answered(ex, sess, msg, in_batch)
        method = (request or {}).get("method") or ""
        result = msg.get("result")
        if method == "initialize" and isinstance(result, dict):
            answered = result.get("protocolVersion")
            expected = negotiated(sess.requested)
            if answered != expected:
                self.violation(ex, f"initialize asked for {sess.requested!r}; the server answered {answered!r}, expected {expected!r}", msg)
            if answered in HTTP_SSE_VERSIONS:  # its result is judged by the version it negotiates
                version, v = answered, self.validator_for(answered)
                sess.version = answered
            scaps = result.get("capabilities")
            sess.server_capabilities = scaps if isinstance(scaps, dict) else {}
        envelope = "JSONRPCResultResponse" if v.has("JSONRPCResultResponse") else "JSONRPCResponse"
        self._schema(ex, envelope, msg, msg, version)
        definition, result = self._check_legacy_result(ex, msg, method, version, complain_unknown=request is not None)
        if result is None:
            return definition
        params = (request or {}).get("params")
        params = params if isinstance(params, dict) else {}
        if method == "logging/setLevel":
            sess.log_level = params.get("level")
        elif method == "resources/subscribe":
            sess.subscriptions.add(params.get("uri"))
        elif method == "resources/unsubscribe":
            sess.subscriptions.discard(params.get("uri"))
        return definition

    def _sse_notification(self, ex: Any, sess: SseSessionState, msg: dict[str, Any], version: str, v: Any) -> str:
        if msg.get("method") != "notifications/progress":
            # the legacy era's checks (schema of the version, capabilities, log level, subscriptions); "standalone"
            # only matters to progress, which is judged below
            return self._legacy_notification(ex, msg, "sse", version, v, sess, False, True)
        self._schema(ex, "ProgressNotification", msg, msg, version)
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        token = _key(params.get("progressToken"))
        request = sess.tokens.get(token)
        if request is None:
            self.violation(ex, f"progress for token {params.get('progressToken')!r}, which no request of this session carried", msg)
        elif request not in sess.pending:
            self.violation(ex, f"progress for token {params.get('progressToken')!r} after its request was answered (or refused)", msg)
        elif isinstance(params.get("progress"), (int, float)):
            last = sess.progress.get(token)
            if last is not None and params["progress"] <= last:
                self.violation(ex, f"progress {params['progress']} does not increase (previous {last})", msg)
            sess.progress[token] = params["progress"]
        return "ProgressNotification"


def wire_problems(wire: WireRecorder, mark: Any) -> str | None:
    """What the servers sent since `mark` that broke a rule (None when nothing did)."""
    exchanges, _recorded, violations, validated = wire.since(mark)
    if violations:
        return (
            f"{len(violations)} schema/protocol violation(s) in what the server sent during this test:\n"
            + "\n".join(f"  - {v}" for v in violations)
        )
    if exchanges and validated == 0:
        return "the test talked to the server but no server message was validated"
    return None


def report_validated(request: Any, wire: WireRecorder, label: str) -> None:
    """One terminal line with what a module's HTTP+SSE recorder validated (the conftests summarise only their own
    recorder)."""
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    if tr is None or not wire.exchanges:
        return
    defs = ", ".join(f"{k} {n}" for k, n in sorted(wire.by_definition.items()))
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        tr.write("\n")  # (after the progress dots)
        tr.write_line(
            f"{label}: {wire.validated} server messages validated in {len(wire.exchanges)} HTTP exchanges; "
            f"{len(wire.violations)} violation(s); {defs}"
        )


# --------------------------------------------------------------------------------------------------
# A raw client
# --------------------------------------------------------------------------------------------------


def base_of(target: Any) -> str:
    """The base URL of a server, replica or nginx (anything with .base_url), or a URL string."""
    return target if isinstance(target, str) else target.base_url


class SseStream:
    """A GET of the SSE endpoint, read in the background as it arrives."""

    def __init__(self, response: Any) -> None:
        self.http_response = response
        self.status: int = response.status_code
        self.headers = response.headers
        self.body: bytes = b""  # of a refusal
        self.frames: list[Frame] = []
        self.endpoint: str | None = None
        self.session_id: str | None = None
        self.messages: list[Any] = []
        self.ended = False  # the server ended it
        self.error: BaseException | None = None

    async def _read(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        started = False
        try:
            async for f in sse_frames(self.http_response):
                self.frames.append(f)
                if f.event == "endpoint" and self.endpoint is None:
                    self.endpoint = f.data
                    self.session_id = session_id_of(f.data)
                elif f.event == "message" and f.data:
                    try:
                        self.messages.append(json.loads(f.data))
                    except ValueError:
                        self.messages.append({"unparsable": f.data})
                if not started:
                    started = True
                    task_status.started()
            self.ended = True
        except Exception as exc:  # a broken connection: the test looks at .error
            self.error = exc
        finally:
            if not started:
                task_status.started()

    async def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 10.0, after: int = 0, what: str = "") -> Any:
        """The first message (from index `after`) that satisfies `predicate`."""
        def matches(m: Any) -> bool:
            try:
                return bool(predicate(m))
            except (AttributeError, TypeError, KeyError):  # e.g. m.get(...) of an array event
                return False

        i = after
        with anyio.move_on_after(timeout):
            while True:
                while i < len(self.messages):
                    if matches(self.messages[i]):
                        return self.messages[i]
                    i += 1
                if self.ended or self.error is not None:
                    break
                await anyio.sleep(0.005)
        state = "ended" if self.ended else f"failed: {self.error!r}" if self.error else f"still open after {timeout} s"
        raise AssertionError(
            f"no {what or 'matching message'} on the stream of session {self.session_id} ({state}); it carried: "
            + json.dumps(self.messages[after:])[:3000]
        )

    async def response(self, request_id: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The response to `request_id`."""
        return await self.wait_for(
            lambda m: isinstance(m, dict) and m.get("id") == request_id and "method" not in m and ("result" in m or "error" in m),
            timeout, what=f"response to {request_id!r}",
        )

    async def request(self, method: str, after: int = 0, timeout: float = 10.0) -> dict[str, Any]:
        """The next server-to-client request `method` (from index `after`)."""
        return await self.wait_for(lambda m: isinstance(m, dict) and m.get("method") == method and "id" in m, timeout, after, method)

    async def wait_ended(self, timeout: float = 10.0) -> bool:
        with anyio.move_on_after(timeout):
            while not (self.ended or self.error is not None):
                await anyio.sleep(0.01)
        return self.ended or self.error is not None

    def answers_to(self, request_id: Any) -> list[dict[str, Any]]:
        return [m for m in self.messages if isinstance(m, dict) and m.get("id") == request_id and "method" not in m]


@contextlib.asynccontextmanager
async def open_sse(http: Any, target: Any, *, path: str = SSE_PATH, headers: dict[str, str] | None = None, drop_accept: bool = False):
    """GET the SSE endpoint of `target`; yields an `SseStream` (its reader runs until the block ends, which closes
    the connection). A refusal is read whole (`.status`, `.body`)."""
    h = {"accept": "text/event-stream"}
    h.update(headers or {})
    request = http.build_request("GET", base_of(target) + path, headers=h)
    if drop_accept:
        del request.headers["accept"]
    response = await http.send(request, stream=True)
    try:
        stream = SseStream(response)
        if response.status_code != 200 or not response.headers.get("content-type", "").startswith("text/event-stream"):
            stream.body = await response.aread()
            yield stream
            return
        async with anyio.create_task_group() as tg:
            await tg.start(stream._read)
            try:
                yield stream
            finally:
                tg.cancel_scope.cancel()
    finally:
        await response.aclose()


class SseClient:
    """One HTTP+SSE session driven by hand: its stream, and POSTs sent to `post_to` or to any other target."""

    def __init__(self, http: Any, stream: SseStream, post_to: Any, messages_path: str = MESSAGES_PATH) -> None:
        self.http = http
        self.stream = stream
        self.post_to = post_to
        self.messages_path = messages_path
        self.sid: str = stream.session_id or ""
        self.version: str | None = None
        self.init_result: dict[str, Any] = {}
        self._next_id = 0

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def url(self, via: Any = None, session: str | None = "own") -> str:
        base = base_of(via if via is not None else self.post_to)
        if session is None:
            return base + self.messages_path
        return f"{base}{self.messages_path}?sessionId={quote(self.sid if session == 'own' else session, safe='')}"

    def request_msg(self, method: str, params: dict[str, Any] | None = None, *, id: Any = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id() if id is None else id, "method": method}
        if params is not None:
            msg["params"] = params
        return msg

    async def post(self, body: Any, via: Any = None, *, raw: bytes | None = None, content_type: str | None = "application/json",
                   headers: dict[str, str] | None = None, session: str | None = "own") -> Any:
        h = {} if content_type is None else {"content-type": content_type}
        h.update(headers or {})
        content = raw if raw is not None else json.dumps(body).encode()
        request = self.http.build_request("POST", self.url(via, session), content=content, headers=h)
        if content_type is None:
            request.headers.pop("content-type", None)
        return await self.http.send(request)

    async def start(self, method: str, params: dict[str, Any] | None = None, via: Any = None) -> dict[str, Any]:
        """POSTs a request and checks the 202; returns the request (its answer comes on the stream)."""
        msg = self.request_msg(method, params)
        r = await self.post(msg, via)
        assert r.status_code == 202, f"{method} POSTed to {base_of(via or self.post_to)}: HTTP {r.status_code} {r.text[:300]!r}"
        assert r.content == b"", f"{method}: 202 with a body {r.content[:200]!r}"
        return msg

    async def call(self, method: str, params: dict[str, Any] | None = None, via: Any = None, timeout: float = 10.0) -> dict[str, Any]:
        """A request POSTed (202), and its response read from the stream."""
        msg = await self.start(method, params, via)
        return await self.stream.response(msg["id"], timeout)

    async def notify(self, method: str, params: dict[str, Any] | None = None, via: Any = None) -> Any:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        return await self.post(msg, via)

    async def respond(self, request_id: Any, result: dict[str, Any], via: Any = None) -> Any:
        return await self.post({"jsonrpc": "2.0", "id": request_id, "result": result}, via)


@contextlib.asynccontextmanager
async def sse_session(http: Any, stream_at: Any, *, post_to: Any = None, version: str = LATEST_LEGACY,
                      capabilities: dict[str, Any] | None = None, initialized: bool = True, path: str = SSE_PATH,
                      messages_path: str = MESSAGES_PATH):
    """A stream opened on `stream_at`, `initialize` (and `notifications/initialized`) POSTed to `post_to` (default:
    `stream_at`); yields the `SseClient`."""
    async with open_sse(http, stream_at, path=path) as stream:
        assert stream.status == 200, f"GET {base_of(stream_at)}{path}: HTTP {stream.status} {stream.body[:300]!r}"
        assert stream.endpoint, f"GET {base_of(stream_at)}{path}: no endpoint event ({stream.frames[:3]}, error {stream.error!r})"
        c = SseClient(http, stream, post_to if post_to is not None else stream_at, messages_path)
        init = await c.call("initialize", {
            "protocolVersion": version,
            "capabilities": capabilities or {},
            "clientInfo": {"name": "raw-http-sse-interop", "version": "1.0"},
        })
        assert "result" in init, init
        c.init_result = init["result"]
        c.version = init["result"]["protocolVersion"]
        if initialized:
            r = await c.notify("notifications/initialized")
            assert r.status_code == 202 and r.content == b"", f"notifications/initialized: HTTP {r.status_code} {r.text[:300]!r}"
        yield c


def text_of(msg: dict[str, Any]) -> str:
    assert "result" in msg, msg
    return msg["result"]["content"][0]["text"]


def echo(text: str) -> dict[str, Any]:
    return {"name": "echo", "arguments": {"text": text}}


async def wait_gone(c: SseClient, via: Any = None, session: str = "own", timeout: float = 5.0) -> list[int]:
    """POSTs pings for a session until one gets 404; the statuses seen (the last is 404 unless it timed out)."""
    statuses: list[int] = []
    with anyio.move_on_after(timeout):
        while True:
            r = await c.post({"jsonrpc": "2.0", "id": f"gone-{len(statuses)}", "method": "ping"}, via, session=session)
            statuses.append(r.status_code)
            if r.status_code == 404:
                break
            await anyio.sleep(0.05)
    return statuses


# --------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_session_id(key_b64: str, nonce: str | None = None) -> str:
    """A session id as the server mints them (`s1.<key id>.<nonce>.<MAC>`, Sources/MCPServer/Security/SessionID.swift)
    with `key`: authentic, so it passes the MAC check, but naming no session the store holds (as an expired one)."""
    key = base64.b64decode(key_b64)
    kid = _b64url(hashlib.sha256(b"mcp-key-id" + key).digest()[:6])
    nonce = nonce or _b64url(os.urandom(16))
    mac = _b64url(hmac.new(key, f"mcp-session-id/v1|{kid}|{nonce}".encode(), hashlib.sha256).digest()[:16])
    return f"s1.{kid}.{nonce}.{mac}"


def alter(s: str, i: int) -> str:
    """`s` with the character at index `i` changed."""
    i %= len(s)
    return s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]


def forged_ids(sid: str) -> list[tuple[str, str]]:
    out = [("MAC altered", alter(sid, -1)), ("a middle character altered", alter(sid, len(sid) // 2)),
           ("a character appended", sid + "A"), ("the last character dropped", sid[:-1])]
    parts = sid.split(".")
    if len(parts) == 4:
        out.append(("key id altered", ".".join([parts[0], alter(parts[1], 0), parts[2], parts[3]])))
        out.append(("MAC of another nonce", ".".join([parts[0], parts[1], alter(parts[2], 3), parts[3]])))
    return out


@dataclass
class BadPost:
    name: str
    status: int
    code: int | None = None  # the JSON-RPC error code, when the contract names one
    says: str | None = None  # a phrase the error message must hold (case-insensitive)
    session: str | None = "own"  # the sessionId to send: "own" (the victim's), another id, or None (no query)
    body: bytes = b'{"jsonrpc":"2.0","id":"bad-input","method":"ping"}'
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    query: str | None = None  # a whole query string instead of ?sessionId=


def bad_posts(victim: str, *, closed: str | None = None, expired: str | None = None, batch_refused: bool = True) -> list[BadPost]:
    """Every bad POST a server must refuse, each with a JSON-RPC error body and without touching session `victim`
    (whose id most of them carry)."""
    big = b'{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"echo","arguments":{"text":"' + b"x" * (MAX_BODY + 1024) + b'"}}}'
    out = [
        BadPost("missing sessionId", 400, -32600, "sessionId", session=None),
        BadPost("only another query parameter", 400, -32600, "sessionId", query=f"session={victim}"),
        BadPost("unknown session id", 404, -32600, GONE_WORDS, session="no-such-session"),
        BadPost("unknown s1 session id", 404, -32600, GONE_WORDS, session="s1.not-a-session-id"),
        *[BadPost(f"forged session id ({how})", 404, -32600, GONE_WORDS, session=f) for how, f in forged_ids(victim)],
        BadPost("malformed JSON (truncated)", 400, -32700, body=b'{"jsonrpc":"2.0","id":1,"method":"ping"'),
        BadPost("malformed JSON (not JSON)", 400, -32700, body=b"hello there"),
        BadPost("malformed JSON (empty body)", 400, -32700, body=b""),
        BadPost("malformed JSON (invalid UTF-8)", 400, -32700, body=b'{"jsonrpc":"2.0","id":1,"method":"p\xff\xfeng"}'),
        BadPost("not JSON-RPC: {}", 400, -32600, body=b"{}"),
        BadPost('not JSON-RPC: {"jsonrpc":"2.0"}', 400, -32600, body=b'{"jsonrpc":"2.0"}'),
        BadPost("not JSON-RPC: jsonrpc 1.0", 400, -32600, body=b'{"jsonrpc":"1.0","id":1,"method":"ping"}'),
        BadPost("not JSON-RPC: no method, result or error", 400, -32600, body=b'{"jsonrpc":"2.0","id":1}'),
        BadPost("not JSON-RPC: a string", 400, -32600, body=b'"ping"'),
        BadPost("not JSON-RPC: a number", 400, -32600, body=b"42"),
        BadPost("not JSON-RPC: null", 400, -32600, body=b"null"),
        BadPost("not JSON-RPC: an object id", 400, -32600, body=b'{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}'),
        BadPost("an empty batch", 400, body=b"[]"),
        BadPost("an answer to no server request (string id)", 400, body=b'{"jsonrpc":"2.0","id":"s2c.nobody.1","result":{}}'),
        BadPost("an answer to no server request (number id)", 400, body=b'{"jsonrpc":"2.0","id":987654321,"result":{}}'),
        BadPost(f"oversized body (> {MAX_BODY} bytes)", 413, body=big),
        BadPost("Content-Type text/plain", 415, content_type="text/plain"),
        BadPost("Content-Type application/x-www-form-urlencoded", 415, content_type="application/x-www-form-urlencoded"),
        BadPost("no Content-Type", 415, content_type=None),
        BadPost("disallowed Origin", 403, headers={"origin": EVIL_ORIGIN}),
    ]
    if batch_refused:
        out.append(BadPost("a batch in a 2025-11-25 session", 400, body=b'[{"jsonrpc":"2.0","id":"b1","method":"ping"}]'))
    if closed is not None:
        out.append(BadPost("session whose stream was closed", 404, -32600, GONE_WORDS, session=closed))
    if expired is not None:
        out.append(BadPost("authentic session id the store does not hold (expired)", 404, -32600, GONE_WORDS, session=expired))
    return out


async def send_bad(c: SseClient, bad: BadPost, via: Any) -> Any:
    if bad.query is not None:
        h = {"content-type": bad.content_type} if bad.content_type else {}
        h.update(bad.headers)
        return await c.http.post(f"{base_of(via)}{c.messages_path}?{bad.query}", content=bad.body, headers=h)
    return await c.post(None, via, raw=bad.body, content_type=bad.content_type, headers=bad.headers, session=bad.session)


def refusal_problems(r: Any, status: int, code: int | None = None, says: str | None = None) -> list[str]:
    """What is wrong with a refusal: the status, and the JSON-RPC error body (no id; the code and words asked for)."""
    problems = []
    if r.status_code != status:
        problems.append(f"HTTP {r.status_code}, expected {status}")
    ctype = r.headers.get("content-type", "")
    try:
        body = json.loads(r.content)
    except ValueError:
        body = None
    if not ctype.startswith("application/json") or not isinstance(body, dict):
        problems.append(f"no JSON-RPC error body ({ctype!r}: {r.content[:200]!r})")
        return problems
    err = body.get("error")
    if body.get("jsonrpc") != "2.0" or not isinstance(err, dict) or "result" in body:
        problems.append(f"body is not a JSON-RPC error: {json.dumps(body)[:300]}")
        return problems
    if body.get("id") is not None:
        problems.append(f"error id {body.get('id')!r}, expected null/absent")
    if code is not None and err.get("code") != code:
        problems.append(f"error code {err.get('code')!r}, expected {code}")
    if not isinstance(err.get("code"), int) or not isinstance(err.get("message"), str):
        problems.append(f"error without an integer code and a message: {json.dumps(err)[:300]}")
    if says and says.lower() not in str(err.get("message", "")).lower():
        problems.append(f"message {err.get('message')!r} does not mention {says!r}")
    return problems


async def check_bad_inputs(c: SseClient, via: Any, bads: list[BadPost], where: str = "") -> list[str]:
    """Sends every bad POST to `via`; returns the problems found (empty when every refusal was right)."""
    problems = []
    for bad in bads:
        try:
            with anyio.fail_after(15):
                r = await send_bad(c, bad, via)
        except Exception as exc:  # a hang or a dropped connection is a finding too
            problems.append(f"{where}{bad.name}: no HTTP response ({exc!r})")
            continue
        for p in refusal_problems(r, bad.status, bad.code, bad.says):
            problems.append(f"{where}{bad.name}: {p}")
    return problems


# --------------------------------------------------------------------------------------------------
# The tests (one server: the interop suite's demo_server)
# --------------------------------------------------------------------------------------------------

pytestmark = pytest.mark.anyio

ALL_CAPS = {"sampling": {}, "roots": {"listChanged": True}, "elicitation": {}}
CUSTOM_SSE, CUSTOM_MESSAGES = "/events", "/rpc"


@pytest.fixture(scope="module")
def sse_wire(request, schema_validator):
    wire = HttpSseWire(schema_validator, sse_paths=(SSE_PATH, CUSTOM_SSE), messages_paths=(MESSAGES_PATH, CUSTOM_MESSAGES))
    yield wire
    report_validated(request, wire, "HTTP+SSE (test_http_sse_raw.py)")


def tee_http(wire: WireRecorder, **kw: Any):
    """A raw httpx2 client whose traffic goes through the validating tee into `wire` (also used by the cluster
    suite's HTTP+SSE tests)."""
    import httpx2

    kw.setdefault("timeout", httpx2.Timeout(15.0, read=60.0))
    return httpx2.AsyncClient(transport=make_tee_transport(httpx2)(wire), **kw)


class _Sse:
    def __init__(self, server: Any, wire: HttpSseWire) -> None:
        self.server = server
        self.wire = wire

    def http(self, **kw: Any):
        return tee_http(self.wire, **kw)

    def plain_http(self):
        """A client without the tee, for requests no MCP endpoint answers (a path that is not served)."""
        import httpx2

        return httpx2.AsyncClient(timeout=httpx2.Timeout(15.0))


@pytest.fixture
def sse(demo_server, sse_wire):
    mark = sse_wire.mark()
    yield _Sse(demo_server, sse_wire)
    problems = wire_problems(sse_wire, mark)
    if problems:
        pytest.fail(problems, pytrace=False)


async def test_http_sse_endpoint_event_first_then_messages(sse):
    server = sse.server
    async with sse.http() as http:
        async with open_sse(http, server) as st:
            assert st.status == 200, (st.status, st.body)
            assert st.headers["content-type"].startswith("text/event-stream")
            assert "no-cache" in st.headers.get("cache-control", "")
            assert st.headers.get("x-accel-buffering") == "no"
            first = st.frames[0]
            assert first.event == "endpoint" and first.id is None, first
            assert first.data.startswith(MESSAGES_PATH + "?sessionId="), first.data
            assert urlsplit(first.data).netloc == "" and st.session_id
            async with open_sse(http, server) as other:
                assert other.session_id and other.session_id != st.session_id, "each GET opens a new session"
            c = SseClient(http, st, server)
            init = await c.call("initialize", {"protocolVersion": LATEST_LEGACY, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}})
            assert init["result"]["protocolVersion"] == LATEST_LEGACY
            assert all(f.event == "message" and f.id is None for f in st.frames[1:] if f.data), st.frames
    assert sse.wire.sse_sessions[st.session_id].stream.status == 200


async def test_http_sse_post_202_then_response_on_the_stream(sse):
    async with sse.http() as http:
        async with sse_session(http, sse.server) as c:
            caps = c.init_result["capabilities"]
            assert c.init_result["serverInfo"]["name"] == "mcp-demo-server"
            assert caps["resources"]["subscribe"] is True and "tools" in caps and "logging" in caps
            msg = c.request_msg("tools/list")
            r = await c.post(msg)
            assert r.status_code == 202 and r.content == b"", (r.status_code, r.content)
            m = await c.stream.response(msg["id"])
            assert {t["name"] for t in m["result"]["tools"]} == TOOLS
            assert text_of(await c.call("tools/call", echo("héllo ✓"))) == "héllo ✓"
            assert (await c.call("ping"))["result"] == {}
            assert (await c.call("tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}}))["result"]["structuredContent"] == {"sum": 5}
            failed = await c.call("tools/call", {"name": "fail", "arguments": {}})
            assert failed["result"]["isError"] is True
            unknown = await c.call("tools/call", {"name": "no-such-tool", "arguments": {}})
            assert "error" in unknown or unknown["result"].get("isError") is True, unknown
            # several requests in flight at once, each answered once on the one stream
            msgs = [await c.start("tools/call", echo(f"n{i}")) for i in range(5)]
            for i, sent in enumerate(msgs):
                assert text_of(await c.stream.response(sent["id"])) == f"n{i}"
            assert all(len(c.stream.answers_to(sent["id"])) == 1 for sent in msgs)


@pytest.mark.parametrize("requested,expected", [
    ("2024-11-05", "2024-11-05"), ("2025-03-26", "2025-03-26"), ("2025-06-18", "2025-06-18"),
    ("2025-11-25", "2025-11-25"), ("2026-07-28", "2025-11-25"), ("2099-01-01", "2025-11-25"), ("1.0", "2025-11-25"),
])
async def test_http_sse_initialize_negotiates(sse, requested, expected):
    async with sse.http() as http:
        async with sse_session(http, sse.server, version=requested) as c:
            assert c.version == expected
            assert "resultType" not in c.init_result
            m = await c.call("tools/list")
            assert {t["name"] for t in m["result"]["tools"]} == TOOLS
    assert sse.wire.sse_sessions[c.sid].version == expected


async def test_http_sse_2024_11_05_session_validates_against_its_schema(sse):
    """A 2024-11-05 session through every kind of message the demo sends: everything on its stream is judged by
    the 2024-11-05 schema (the recorder counts each definition under its version)."""
    before = dict(sse.wire.by_definition)
    async with sse.http() as http:
        async with sse_session(http, sse.server, version="2024-11-05", capabilities={"sampling": {}, "roots": {"listChanged": True}}) as c:
            assert c.version == "2024-11-05"
            assert {t["name"] for t in (await c.call("tools/list"))["result"]["tools"]} == TOOLS
            assert text_of(await c.call("tools/call", echo("old"))) == "old"
            assert text_of(await c.call("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})) == "3"
            assert (await c.call("logging/setLevel", {"level": "info"}))["result"] == {}
            mark = len(c.stream.messages)
            done = await c.call("tools/call", {"name": "countdown", "arguments": {"steps": 3, "intervalMs": 10}, "_meta": {"progressToken": "p1"}})
            assert text_of(done) == "done"
            seen = c.stream.messages[mark:]
            assert [m["params"]["progress"] for m in seen if m.get("method") == "notifications/progress"] == [1, 2, 3]
            assert [m["params"]["level"] for m in seen if m.get("method") == "notifications/message"] == ["info"] * 3
            # sampling and roots, answered by POST
            mark = len(c.stream.messages)
            call = await c.start("tools/call", {"name": "summarize", "arguments": {"text": "The quick brown fox."}})
            req = await c.stream.request("sampling/createMessage", mark)
            r = await c.respond(req["id"], {"role": "assistant", "model": "m", "content": {"type": "text", "text": "Short."}, "stopReason": "endTurn"})
            assert r.status_code == 202, (r.status_code, r.text)
            assert text_of(await c.stream.response(call["id"])) == "Short."
            mark = len(c.stream.messages)
            call = await c.start("tools/call", {"name": "list-roots", "arguments": {}})
            req = await c.stream.request("roots/list", mark)
            r = await c.respond(req["id"], {"roots": [{"uri": "file:///tmp/a", "name": "a"}]})
            assert r.status_code == 202
            assert text_of(await c.stream.response(call["id"])) == "file:///tmp/a"
            # elicitation does not exist at 2024-11-05: ask must end without asking
            mark = len(c.stream.messages)
            asked = await c.call("tools/call", {"name": "ask", "arguments": {"question": "?"}})
            assert "error" in asked or asked["result"].get("isError") is True, asked
            assert not [m for m in c.stream.messages[mark:] if m.get("method") == "elicitation/create"]
            # resources, templates, prompt, completion
            listed = (await c.call("resources/list"))["result"]["resources"]
            assert {x["uri"] for x in listed} == STATIC_RESOURCES
            templates = (await c.call("resources/templates/list"))["result"]["resourceTemplates"]
            assert [t["uriTemplate"] for t in templates] == ["demo://items/{id}"]
            read = await c.call("resources/read", {"uri": "demo://items/7"})
            assert read["result"]["contents"][0]["text"] == "item 7"
            prompt = await c.call("prompts/get", {"name": "greet", "arguments": {"name": "Grace"}})
            assert prompt["result"]["messages"][0]["content"]["text"] == "Please greet Grace warmly."
            completion = await c.call("completion/complete", {"ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"name": "name", "value": "a"}})
            assert completion["result"]["completion"]["values"] == ["Ada", "Alan"]
            # subscribe, touch: the update on the stream
            assert (await c.call("resources/subscribe", {"uri": "demo://counter"}))["result"] == {}
            mark = len(c.stream.messages)
            await c.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://counter"}})
            await c.stream.wait_for(lambda m: m.get("method") == "notifications/resources/updated", 5, mark, "resources/updated")
    counted = {k: n - before.get(k, 0) for k, n in sse.wire.by_definition.items() if n > before.get(k, 0)}
    for definition in ("InitializeResult", "ListToolsResult", "CallToolResult", "EmptyResult", "ProgressNotification",
                       "LoggingMessageNotification", "CreateMessageRequest", "ListRootsRequest", "ListResourcesResult",
                       "ListResourceTemplatesResult", "ReadResourceResult", "GetPromptResult", "CompleteResult",
                       "ResourceUpdatedNotification"):
        assert counted.get(f"2024-11-05/{definition}"), f"no 2024-11-05/{definition} validated: {counted}"
    assert not [k for k in counted if k.startswith("2025-") and not k.endswith("JSONRPCErrorResponse")], counted


@pytest.mark.parametrize("version", ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"])
async def test_http_sse_batches(sse, version):
    async with sse.http() as http:
        async with sse_session(http, sse.server, version=version) as c:
            batch = [c.request_msg("ping"), c.request_msg("tools/call", echo("in a batch")), {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}]
            mark = len(c.stream.messages)
            r = await c.post(batch)
            if version in BATCH_VERSIONS:
                assert r.status_code == 202 and r.content == b"", (r.status_code, r.text)
                event = await c.stream.wait_for(lambda m: isinstance(m, list), 10, mark, "array event")
                assert sorted(m["id"] for m in event) == sorted([batch[0]["id"], batch[1]["id"]]), event
                assert [text_of(m) for m in event if m["id"] == batch[1]["id"]] == ["in a batch"]
                only_notes = await c.post([{"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}])
                assert only_notes.status_code == 202, (only_notes.status_code, only_notes.text)
            else:
                assert not refusal_problems(r, 400), refusal_problems(r, 400)
            # nothing else: the session goes on, no response for a refused batch
            assert text_of(await c.call("tools/call", echo("after"))) == "after"
            if version not in BATCH_VERSIONS:
                assert not [m for m in c.stream.messages[mark:] if isinstance(m, list) or m.get("id") in (batch[0]["id"], batch[1]["id"])]


async def test_http_sse_bad_inputs_are_refused_and_harm_no_session(sse):
    async with sse.http() as http:
        async with sse_session(http, sse.server) as gone:
            closed = gone.sid
        async with sse_session(http, sse.server) as victim:
            statuses = await wait_gone(victim, session=closed)
            assert statuses[-1:] == [404], f"the session of a closed stream still took POSTs: {statuses}"
            mark = len(victim.stream.messages)
            problems = await check_bad_inputs(victim, sse.server, bad_posts(victim.sid, closed=closed))
            await anyio.sleep(0.2)
            leaked = victim.stream.messages[mark:]
            assert text_of(await victim.call("tools/call", echo("still here"))) == "still here"
    assert not problems, "bad input not refused as the contract says:\n  " + "\n  ".join(problems)
    assert not leaked, f"bad input reached the victim's stream: {json.dumps(leaked)[:2000]}"


async def test_http_sse_answers_to_server_requests(sse):
    async with sse.http() as http:
        async with sse_session(http, sse.server, capabilities=ALL_CAPS) as c:
            mark = len(c.stream.messages)
            call = await c.start("tools/call", {"name": "ask", "arguments": {"question": "Why?"}})
            req = await c.stream.request("elicitation/create", mark)
            assert req["params"]["message"] == "Why?"
            answer = {"action": "accept", "content": {"answer": "because"}}
            r = await c.respond(req["id"], answer)
            assert r.status_code == 202 and r.content == b"", (r.status_code, r.text)
            assert text_of(await c.stream.response(call["id"])) == "answer: because"
            again = await c.respond(req["id"], answer)
            assert not refusal_problems(again, 400), ("an answer already given", refusal_problems(again, 400))
            for unknown in ("s2c.nobody.1", 424242, req["id"] + "x" if isinstance(req["id"], str) else req["id"] + 1):
                r = await c.respond(unknown, answer)
                assert not refusal_problems(r, 400), (unknown, refusal_problems(r, 400))
            # ask-twice: two rounds; a decline
            mark = len(c.stream.messages)
            call = await c.start("tools/call", {"name": "ask-twice", "arguments": {}})
            first = await c.stream.request("elicitation/create", mark)
            assert (await c.respond(first["id"], {"action": "accept", "content": {"answer": "one"}})).status_code == 202
            second = await c.stream.request("elicitation/create", c.stream.messages.index(first) + 1)
            assert second["id"] != first["id"]
            assert (await c.respond(second["id"], {"action": "decline"})).status_code == 202
            assert text_of(await c.stream.response(call["id"])) == "first: one, second: (decline)"


async def test_http_sse_cancelled_notification_cancels_the_handler(sse):
    async with sse.http() as http:
        async with sse_session(http, sse.server) as c:
            async def stats() -> dict:
                return json.loads((await c.call("resources/read", {"uri": "demo://stats"}))["result"]["contents"][0]["text"])

            before = await stats()
            mark = len(c.stream.messages)
            call = await c.start("tools/call", {"name": "countdown", "arguments": {"steps": 500, "intervalMs": 20}, "_meta": {"progressToken": "c"}})
            await c.stream.wait_for(lambda m: m.get("method") == "notifications/progress", 10, mark, "progress")
            r = await c.notify("notifications/cancelled", {"requestId": call["id"], "reason": "test"})
            assert r.status_code == 202 and r.content == b"", (r.status_code, r.text)
            after = before
            with anyio.move_on_after(5):
                while after["cancelledHandlers"] <= before["cancelledHandlers"]:
                    after = await stats()
            assert after["cancelledHandlers"] == before["cancelledHandlers"] + 1, (before, after)
            await anyio.sleep(0.3)
            assert c.stream.answers_to(call["id"]) == [], "a response followed the cancellation"


async def test_http_sse_closing_the_stream_ends_the_session(sse):
    async with sse.http() as http:
        async with sse_session(http, sse.server) as c:
            assert (await c.call("ping"))["result"] == {}
        t0 = time.monotonic()
        statuses = await wait_gone(c, timeout=3)
        assert statuses[-1:] == [404], f"POSTs still accepted {time.monotonic() - t0:.1f} s after the stream closed: {statuses}"
        r = await c.post(c.request_msg("ping"))
        assert not refusal_problems(r, 404, -32600, GONE_WORDS), refusal_problems(r, 404, -32600, GONE_WORDS)


async def test_http_sse_get_refusals(sse):
    server = sse.server
    async with sse.http() as http:
        for headers, status in (({"origin": EVIL_ORIGIN}, 403), ({"accept": "application/json"}, 406), ({"accept": "text/html"}, 406)):
            async with open_sse(http, server, headers=headers) as st:
                assert st.status == status, (headers, st.status, st.body[:200])
                assert not refusal_problems(st.http_response, status), (headers, refusal_problems(st.http_response, status))
        for headers in ({"accept": "*/*"}, {"accept": "text/*"}, {"origin": server.base_url}):
            async with open_sse(http, server, headers=headers) as st:
                assert st.status == 200 and st.session_id, (headers, st.status, st.body[:200])
        async with open_sse(http, server, drop_accept=True) as st:
            assert st.status == 200 and st.session_id, ("no Accept header", st.status, st.body[:200])
        for method in ("POST", "DELETE"):
            r = await http.request(method, server.base_url + SSE_PATH)
            assert r.status_code in (404, 405), (method, r.status_code)


async def test_http_sse_custom_paths_and_authentic_but_unknown_ids(sse, tmp_path):
    """--sse-path / --messages-path move the transport; an id minted with the server's key but naming no session
    (as an expired one does) is 404 like any other."""
    from conftest import launch_server, stop_server

    key = base64.b64encode(os.urandom(32)).decode()
    server = launch_server(tmp_path, "custom-paths", "interop-sse-paths",
                           ("--key", key, "--sse-path", CUSTOM_SSE, "--messages-path", CUSTOM_MESSAGES))
    try:
        async with sse.http() as http, sse.plain_http() as plain:
            async with open_sse(plain, server) as st:
                assert st.status == 404, f"GET /sse with the stream moved to {CUSTOM_SSE}: HTTP {st.status}"
            async with sse_session(http, server, path=CUSTOM_SSE, messages_path=CUSTOM_MESSAGES) as c:
                assert c.stream.endpoint.startswith(CUSTOM_MESSAGES + "?sessionId="), c.stream.endpoint
                parts = c.sid.split(".")
                assert len(parts) == 4 and mint_session_id(key, parts[2]) == c.sid, (
                    f"session id {c.sid!r} is not minted as SessionID.swift mints (the expired-id check relies on it)"
                )
                assert text_of(await c.call("tools/call", echo("moved"))) == "moved"
                r = await plain.post(f"{server.base_url}{MESSAGES_PATH}?sessionId={c.sid}", json=c.request_msg("ping"))
                assert r.status_code == 404, f"POST {MESSAGES_PATH} with messages moved to {CUSTOM_MESSAGES}: HTTP {r.status_code}"
                expired = mint_session_id(key)
                problems = await check_bad_inputs(c, server, [BadPost("authentic id of no session", 404, -32600, GONE_WORDS, session=expired)])
                assert not problems, problems
                assert text_of(await c.call("tools/call", echo("fine"))) == "fine"
    finally:
        stop_server(server)


async def test_http_sse_can_be_turned_off(sse, tmp_path):
    from conftest import launch_server, stop_server

    server = launch_server(tmp_path, "no-http-sse", "interop-no-sse", ("--no-http-sse",))
    try:
        async with sse.plain_http() as http:  # (no tee: what answers here is no MCP server)
            async with open_sse(http, server) as st:
                assert st.status == 404, f"GET /sse with --no-http-sse: HTTP {st.status}"
            r = await http.post(f"{server.base_url}{MESSAGES_PATH}?sessionId=s1.x", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            assert r.status_code == 404, f"POST /messages with --no-http-sse: HTTP {r.status_code}"
            h = await http.get(server.base_url + "/healthz")
            assert h.status_code == 200
    finally:
        stop_server(server)
