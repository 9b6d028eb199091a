"""The chaos clients, all talking raw HTTP to nginx and recording into one `Recorder`:

* `SessionClient` (protocol 2025-11-25, Mcp-Session-Id): initialize, resources/subscribe demo://counter and the
  standalone GET stream, then calls echo, add, countdown (with a progress token) and ask (answering the elicitation
  with a POST that nginx usually sends to another replica). A request stream that is cut is resumed with GET +
  Last-Event-ID until the final response comes; the request itself is never sent again. The GET stream is resumed
  the same way. A 404 means the session is gone: the client starts a new one (the spec's rule).
* `StatelessClient` (protocol 2026-07-28): echo, add and countdown, each re-issued when its stream is cut or it
  meets a transport error (or a 503 refusal), as the spec says; and a subscriptions/listen stream on demo://counter,
  opened again whenever it ends.
* `MessageStreamClient` (the 2024-11-05 HTTP+SSE transport): GET /sse opens a session and its one stream;
  initialize, notifications/initialized and the calls (echo, add, countdown with a progress token, ask) are POSTed
  to the endpoint it names (202) by two workers (one back to back, one now and then), and answered on the stream,
  where the elicitation of `ask` comes too (answered by a POST). The transport has no resumption: when the stream
  ends, the calls still waiting are lost with it, and a POST refused with 404 means the session is over; either way
  the client opens a new stream.
* `TaskClient` (protocol 2026-07-28 with the tasks extension declared): starts a `long-job` task (10-30 steps of
  50-100 ms, no confirm) every `--task-every` seconds, each answered with a CreateTaskResult, and polls each with
  `tasks/get` every 0.25 s until it is terminal; the creation is re-issued like a stateless call (cut stream,
  transport error, 503), a poll that fails that way is simply tried again at the next tick.
* `Toucher`: a stateless `touch demo://counter` every `--touch-every` seconds, the notifications' source.

Calls stop when `Shared.stop` is set; streams close when `Shared.streams_stop` is set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import anyio
import anyio.abc
import httpx2

from record import (ATTEMPT_CUT, ATTEMPT_FINAL, ATTEMPT_REFUSED, ATTEMPT_RETRY, ATTEMPT_TRANSPORT, Attempt, Call,
                    GetStream, ListenEpisode, MessageStream, Recorder, TaskRun, Touch)
from wire import (COUNTER_URI, STATELESS_META, TASK_META, TASK_TERMINAL, UNKNOWN_TASK, Frame, answer_for, check_result,
                  encode, error_code, initialize_msg, is_event_stream, is_final_for, json_body, request, session_headers,
                  sse_frames, stateless_headers, tool_params, upstream_port)

STREAM_IDLE = 20.0        # seconds without a byte before a stream counts as cut (the server sends keep-alives every 15 s)
AFTER_FINAL = 1.0         # seconds a stream is read on after its final answer (a second final is a duplicate)
REISSUES = 6              # how many times a stateless call is sent at most
RESUME_PAUSE = 0.2        # pause before a resume that was refused for now (409, 503, refused connection)
NGINX_ERRORS = (502, 503, 504)
ANSWER_TRIES = 12         # how many times an answer to a server-to-client request is posted at most (503s are retried
                          # after their Retry-After, at most 1 s: about ten seconds of store outage)


async def post_answer(http: httpx2.AsyncClient, rec: Recorder, answers: dict[str, int], url: str, headers: dict[str, str],
                      answer: dict[str, Any], note: Callable[[str], Any] | None = None, elsewhere_of: str | None = None,
                      count_elsewhere: bool = False) -> None:
    """POSTs the client's answer to a server-to-client request, retried on a transport error (0.1 s apart) and on a
    503 (after its Retry-After, as the server asks: the replica that got it could not reach the store, and the handler
    waiting for the answer is still there), at most ANSWER_TRIES times; counts it in `answers` (posted, accepted,
    refused, retried, and with `count_elsewhere` accepted by a replica other than `elsewhere_of`), and notes each try
    with `note`."""
    for _ in range(ANSWER_TRIES):
        answers["posted"] += 1
        reply = await exchange(http, rec, "POST", url, headers, encode(answer))
        if note is not None:
            note(f"{answer['id']} -> {reply.status or reply.error} via {reply.upstream}")
        if reply.status == 202:
            answers["accepted"] += 1
            if count_elsewhere:
                answers["elsewhere"] += int(reply.upstream is not None and reply.upstream != elsewhere_of)
            return
        if reply.status == 503:
            answers["retried"] += 1
            await anyio.sleep(retry_pause(reply.retry_after))
            continue
        if not is_transport_failure(reply):
            answers["refused"] += 1
            return
        answers["retried"] += 1
        await anyio.sleep(0.1)
    answers["refused"] += 1


@dataclass
class Shared:
    """What every client of a phase shares."""

    rec: Recorder
    url: str
    hang_timeout: float
    rng: random.Random
    stop: anyio.Event = field(default_factory=anyio.Event)          # no new calls
    streams_stop: anyio.Event = field(default_factory=anyio.Event)  # close listen and GET streams
    touch_every: float = 0.5
    task_every: float = 0.5  # seconds between two long-job tasks of the task client (0: no task client)


def new_http() -> httpx2.AsyncClient:
    """A connection per request: reloading nginx closes idle keep-alive connections, and a request sent on one at that
    instant would fail without reaching any replica (see Tests/cluster/README.md)."""
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(STREAM_IDLE, connect=3.0),
        limits=httpx2.Limits(max_keepalive_connections=0),
    )


# --------------------------------------------------------------------------------------------------------------------
# One HTTP exchange
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class Reply:
    """How one exchange went. `status` None: a transport error before any response (`error` says which).
    `stream`: None for a response that is not an event stream (then `body` is its JSON, if any); "done" when
    `on_frame` saw what it waited for; "ended" when the server ended the stream first; "broke" on a read error."""

    status: int | None = None
    body: Any = None
    stream: str | None = None
    error: str = ""
    retry_after: str | None = None
    upstream: str | None = None
    session_id: str | None = None


OnFrame = Callable[[Frame], Awaitable[bool]]


async def exchange(http: httpx2.AsyncClient, rec: Recorder, method: str, url: str, headers: dict[str, str],
                   body: bytes | None = None, on_frame: OnFrame | None = None, attempt: Attempt | None = None,
                   after_done: float = AFTER_FINAL) -> Reply:
    """Sends one request and reads its response as it arrives: event-stream frames go to `on_frame` until it returns
    True (then the stream is read on for `after_done` seconds, still through `on_frame`)."""
    reply = Reply()
    try:
        async with http.stream(method, url, headers=headers, content=body) as r:
            reply.status = r.status_code
            reply.retry_after = r.headers.get("retry-after")
            reply.upstream = rec.replica_of_port(upstream_port(r))
            reply.session_id = r.headers.get("mcp-session-id")
            if attempt is not None:
                attempt.status, attempt.upstream, attempt.retry_after = reply.status, reply.upstream, reply.retry_after
            try:
                if is_event_stream(r) and on_frame is not None:
                    reply.stream = "ended"
                    frames = sse_frames(r)
                    async for frame in frames:
                        if await on_frame(frame):
                            reply.stream = "done"
                            break
                    if reply.stream == "done":
                        with anyio.move_on_after(after_done):
                            async for frame in frames:
                                await on_frame(frame)
                else:
                    reply.body = json_body(await r.aread())
                    if attempt is not None:
                        attempt.rpc_error = error_code(reply.body)
            except httpx2.RequestError as exc:
                if reply.stream != "done":
                    reply.stream = "broke"
                    reply.error = f"{type(exc).__name__}: {exc}"
    except httpx2.RequestError as exc:
        if reply.status is None:
            reply.error = f"{type(exc).__name__}: {exc}" or type(exc).__name__
    if attempt is not None:
        attempt.t_end = rec.now()
        attempt.detail = reply.error
    return reply


def is_transport_failure(reply: Reply) -> bool:
    """No response, or nginx's own 5xx (no JSON-RPC body: the replica never answered)."""
    if reply.status is None:
        return True
    return reply.status in NGINX_ERRORS and reply.stream is None and not (isinstance(reply.body, dict) and "error" in reply.body)


def settle_final(rec: Recorder, call: Call, msg: dict[str, Any], tool: str, arguments: dict[str, Any]) -> None:
    """Records a final JSON-RPC response as the call's answer."""
    if "error" in msg:
        err = msg["error"] if isinstance(msg["error"], dict) else {}
        data = err.get("data") if isinstance(err.get("data"), dict) else {}
        rec.finish(call, "rpc_error", error_code=error_code(msg), error_reason=data.get("reason"),
                   error_replica=data.get("replica"), detail=str(err.get("message", ""))[:200])
        return
    problem = check_result(tool, arguments, msg.get("result")) if tool else None
    rec.finish(call, "bad_result" if problem else "ok", detail=problem or "")


def settle_refusal(rec: Recorder, call: Call, attempt: Attempt, reply: Reply) -> None:
    """A response that is not a final answer to the call: a replica's refusal, or nginx's error."""
    if is_transport_failure(reply):
        attempt.result = ATTEMPT_TRANSPORT
        rec.finish(call, "transport", status=None, detail=reply.error or f"HTTP {reply.status} from nginx")
    else:
        attempt.result = ATTEMPT_REFUSED
        err = reply.body.get("error") if isinstance(reply.body, dict) else None
        rec.finish(call, "refused", error_code=err.get("code") if isinstance(err, dict) else None,
                   detail=f"HTTP {reply.status}" + (f" Retry-After {reply.retry_after}" if reply.retry_after else "")
                   + (f": {err.get('message', '')[:160]}" if isinstance(err, dict) else ""))


def retry_pause(retry_after: str | None) -> float:
    """Seconds to wait before re-issuing after a 503: its Retry-After, at most one second (the harness is impatient)."""
    try:
        return min(1.0, float(retry_after or 0.5))
    except ValueError:
        return 0.5


def pick_tool(rng: random.Random, tools: tuple[str, ...], n: int) -> tuple[str, dict[str, Any]]:
    tool = rng.choice(tools)
    if tool == "echo":
        return tool, {"text": f"chaos {n}"}
    if tool == "add":
        return tool, {"a": rng.randint(0, 1000), "b": rng.randint(0, 1000)}
    if tool == "countdown":
        return tool, {"steps": rng.randint(3, 8), "intervalMs": 150}
    return tool, {"question": f"question {n}?"}


# --------------------------------------------------------------------------------------------------------------------
# Session clients (2025-11-25)
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class _Stream:
    """A session request being read: its session and id, the last SSE event id seen (for Last-Event-ID)."""

    call: Call
    session: str
    rpc_id: int
    tool: str
    arguments: dict[str, Any]
    last_event_id: str | None = None
    answered: set[str] = field(default_factory=set)  # server-to-client requests answered (a replay shows them again)


class SessionClient:
    TOOLS = ("echo", "add", "countdown", "ask")

    def __init__(self, name: str, shared: Shared) -> None:
        self.name = name
        self.s = shared
        self.rec = shared.rec
        self.http = new_http()
        self.session: str | None = None
        self.version = "2025-11-25"
        self._ids = 0
        self._calls = 0
        self._s2c_ids: set[str] = set()  # server-to-client request ids seen in this session
        self._get_scope: anyio.CancelScope | None = None

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    async def run(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                while not self.s.stop.is_set():
                    if self.session is None and not await self._open_session(tg):
                        await anyio.sleep(0.3)
                        continue
                    await self._one_call()
                    await anyio.sleep(self.s.rng.uniform(0.02, 0.15))
                await self.s.streams_stop.wait()
                if self._get_scope is not None:
                    self._get_scope.cancel()
        finally:
            await self.http.aclose()

    def _drop_session(self) -> None:
        """The session is gone (404): its GET stream ends; the next call starts a new session."""
        self.session = None
        self._s2c_ids = set()
        if self._get_scope is not None:
            self._get_scope.cancel()

    # -- session set-up -------------------------------------------------------------------------------------------------

    async def _simple(self, method: str, msg: dict[str, Any], headers: dict[str, str]) -> tuple[Call, Reply]:
        """A session request answered with one JSON body (initialize, notifications/initialized, subscribe)."""
        call = self.rec.call(self.name, "session", method)
        attempt = call.attempt("post", call.t_sent)
        reply = Reply()
        with anyio.move_on_after(self.s.hang_timeout):
            reply = await exchange(self.http, self.rec, "POST", self.s.url, headers, encode(msg), attempt=attempt)
        if attempt.t_end is None:
            self.rec.finish(call, "hung", detail=f"no response within {self.s.hang_timeout:.0f} s")
        elif reply.status in (200, 202) and (method.startswith("notifications/") or is_final_for(reply.body, msg.get("id"))):
            attempt.result = ATTEMPT_FINAL
            call.finals += int(not method.startswith("notifications/"))
            if isinstance(reply.body, dict) and "error" in reply.body:
                settle_final(self.rec, call, reply.body, "", {})
            else:
                self.rec.finish(call, "ok")
        else:
            settle_refusal(self.rec, call, attempt, reply)
        return call, reply

    async def _open_session(self, tg: anyio.abc.TaskGroup) -> bool:
        call, reply = await self._simple("initialize", initialize_msg(self.name), session_headers(None))
        sid = reply.session_id
        if call.outcome != "ok" or not sid:
            return False
        self.version = reply.body["result"].get("protocolVersion", self.version)
        self.session = sid
        await self._simple("notifications/initialized", {"jsonrpc": "2.0", "method": "notifications/initialized"},
                           session_headers(sid, self.version))
        sub, _ = await self._simple("resources/subscribe",
                                    request(self._next_id(), "resources/subscribe", {"uri": COUNTER_URI}),
                                    session_headers(sid, self.version))
        if sub.outcome != "ok":
            self._drop_session()
            return False
        g = GetStream(self.name, sid, self.rec.now())
        self.rec.gets.append(g)
        tg.start_soon(self._standalone, sid, g)
        return True

    # -- calls ----------------------------------------------------------------------------------------------------------

    async def _one_call(self) -> None:
        self._calls += 1
        tool, arguments = pick_tool(self.s.rng, self.TOOLS, self._calls)
        rpc_id = self._next_id()
        token = f"{self.name}-p{rpc_id}" if tool == "countdown" else None
        msg = request(rpc_id, "tools/call", tool_params(tool, arguments, token))
        call = self.rec.call(self.name, "session", f"tools/call:{tool}")
        st = _Stream(call, self.session, rpc_id, tool, arguments)
        with anyio.move_on_after(self.s.hang_timeout):
            await self._post(st, msg)
        if call.outcome is None:
            self.rec.finish(call, "hung", detail=f"no final response within {self.s.hang_timeout:.0f} s")

    async def _on_frame(self, st: _Stream, frame: Frame) -> bool:
        if frame.id is not None:
            st.last_event_id = frame.id
        if frame.is_priming:
            st.call.primed = True
            return False
        msg = frame.message
        if not isinstance(msg, dict):
            return False
        if msg.get("method") == "notifications/progress":
            st.call.progress += 1
        elif msg.get("method") == "elicitation/create" and "id" in msg:
            await self._answer(st, msg)
        elif is_final_for(msg, st.rpc_id):
            st.call.finals += 1
            settle_final(self.rec, st.call, msg, st.tool, st.arguments)
            return True
        return False

    async def _post(self, st: _Stream, msg: dict[str, Any]) -> None:
        call = st.call
        attempt = call.attempt("post", call.t_sent)
        reply = await exchange(self.http, self.rec, "POST", self.s.url, session_headers(st.session, self.version),
                               encode(msg), on_frame=lambda f: self._on_frame(st, f), attempt=attempt)
        if reply.stream is None:
            if reply.status == 200 and is_final_for(reply.body, st.rpc_id):
                attempt.result = ATTEMPT_FINAL
                call.finals += 1
                settle_final(self.rec, call, reply.body, st.tool, st.arguments)
                return
            settle_refusal(self.rec, call, attempt, reply)
            if reply.status == 404 and self.session == st.session:
                self._drop_session()
            return
        if reply.stream == "done":
            attempt.result = ATTEMPT_FINAL
            return
        attempt.result = ATTEMPT_CUT
        attempt.detail = attempt.detail or "the stream ended without a final response"
        await self._resume(st)

    async def _resume(self, st: _Stream) -> None:
        """GET + Last-Event-ID through nginx until the final response (the request is never sent again)."""
        call = st.call
        while call.outcome is None:
            if st.last_event_id is None:
                call.attempts[-1].result = ATTEMPT_TRANSPORT
                self.rec.finish(call, "transport", detail="the stream was cut before its first event")
                return
            attempt = call.attempt("resume", self.rec.now())
            reply = await exchange(self.http, self.rec, "GET", self.s.url,
                                   session_headers(st.session, self.version, get=True, last_event_id=st.last_event_id),
                                   on_frame=lambda f: self._on_frame(st, f), attempt=attempt)
            if reply.stream == "done":
                attempt.result = ATTEMPT_FINAL
            elif reply.stream is not None:
                attempt.result = ATTEMPT_CUT
                await anyio.sleep(0.05)
            elif reply.status is None or reply.status == 409 or reply.status >= 500:
                attempt.result = ATTEMPT_RETRY
                await anyio.sleep(RESUME_PAUSE)
            else:
                attempt.result = ATTEMPT_REFUSED
                self.rec.finish(call, "lost", detail=f"resume refused with HTTP {reply.status}: {str(reply.body)[:160]}")

    async def _answer(self, st: _Stream, msg: dict[str, Any]) -> None:
        """POSTs the client's answer to an elicitation/create request (once; a transport error is retried). An id
        that an earlier request of the session already used breaks the spec's rule (ids are never reused within a
        session): recorded, and answered all the same."""
        call, request_id = st.call, msg["id"]
        if request_id in st.answered:
            return  # a replay after a resume shows the request again
        st.answered.add(request_id)
        if request_id in self._s2c_ids:
            self.rec.reused_ids.append(f"{st.session} {request_id} ({call.call_id})")
        self._s2c_ids.add(request_id)
        question = (msg.get("params") or {}).get("message", "")
        answer = {"jsonrpc": "2.0", "id": request_id, "result": {"action": "accept", "content": {"answer": answer_for(question)}}}
        waiting = request_id.split(".")[1] if isinstance(request_id, str) and request_id.count(".") >= 2 else None
        await post_answer(self.http, self.rec, self.rec.answers, self.s.url, session_headers(st.session, self.version), answer,
                          note=call.server_requests.append, elsewhere_of=waiting, count_elsewhere=True)

    # -- the standalone GET stream ------------------------------------------------------------------------------------

    async def _standalone(self, sid: str, g: GetStream) -> None:
        """Holds the session's GET stream until the phase's streams close, resuming it with Last-Event-ID."""
        last_id: str | None = None
        seen: set[str] = set()

        async def on_frame(frame: Frame) -> bool:
            nonlocal last_id
            if frame.id is not None:
                last_id = frame.id
            if frame.is_priming:
                if g.t_primed is None:
                    g.t_primed = self.rec.now()
                if g.gaps and g.gaps[-1][1] is None:
                    g.gaps[-1][1] = self.rec.now()
                return False
            msg = frame.message
            if isinstance(msg, dict) and msg.get("method") == "notifications/resources/updated" \
                    and (msg.get("params") or {}).get("uri") == COUNTER_URI:
                key = frame.id or f"no-id-{len(g.received_ids)}"
                if key in seen:
                    g.duplicate_events += 1
                else:
                    seen.add(key)
                    g.received_ids.append(key)
            return False

        with anyio.CancelScope() as scope:
            self._get_scope = scope
            try:
                while True:
                    reply = await exchange(self.http, self.rec, "GET", self.s.url,
                                           session_headers(sid, self.version, get=True, last_event_id=last_id), on_frame=on_frame)
                    if reply.stream is not None:  # ended or cut: resume where it stopped
                        g.resumes += 1
                        if not g.gaps or g.gaps[-1][1] is not None:
                            g.gaps.append([self.rec.now(), None])
                        await anyio.sleep(0.05)
                    elif reply.status == 404:
                        g.end = "session gone (404)"
                        if self.session == sid:
                            self._drop_session()
                        return
                    else:  # 409 (the lock of a stream not yet noticed gone), 503, nginx's 502, refused connection
                        if g.t_primed is not None and (not g.gaps or g.gaps[-1][1] is not None):
                            g.gaps.append([self.rec.now(), None])
                        await anyio.sleep(RESUME_PAUSE)
            finally:
                g.t_end = self.rec.now()
                g.end = g.end or "closed"


# --------------------------------------------------------------------------------------------------------------------
# HTTP+SSE clients (2024-11-05)
# --------------------------------------------------------------------------------------------------------------------

SSE_OPEN_WAIT = 10.0      # seconds a new GET /sse has to deliver its endpoint event
JSON_POST = {"content-type": "application/json"}


@dataclass
class _Pending:
    """A request of an HTTP+SSE session, from its POST until its answer on the stream (or the stream's end)."""

    call: Call
    rpc_id: int
    tool: str
    arguments: dict[str, Any]
    done: anyio.Event = field(default_factory=anyio.Event)  # its answer came, or the stream ended


@dataclass
class _MessageSession:
    """One HTTP+SSE session: its stream (read by `MessageStreamClient._read`) and its requests by JSON-RPC id."""

    index: int                   # in Recorder.sse_streams
    record: MessageStream
    post_url: str | None = None
    endpoint: anyio.Event = field(default_factory=anyio.Event)  # the endpoint event came, or the stream ended
    ended: anyio.Event = field(default_factory=anyio.Event)
    gone: bool = False           # no new requests: a POST got 404, or the stream ended
    next_id: int = 0
    calls: dict[int, _Pending] = field(default_factory=dict)
    by_token: dict[str, _Pending] = field(default_factory=dict)
    by_question: dict[str, _Pending] = field(default_factory=dict)
    answered: set[Any] = field(default_factory=set)
    scope: anyio.CancelScope | None = None

    def pending(self) -> list[_Pending]:
        return [p for p in self.calls.values() if p.call.outcome is None]


class MessageStreamClient:
    """A client of the 2024-11-05 HTTP+SSE transport, through nginx: one connection holds the GET /sse stream, every
    POST opens its own (`new_http`). A call is final when its response (or a -32010 error) arrives on the stream;
    lost with the stream when the stream ended before it (the transport cannot resume); refused when its POST got
    404 or 503; transport when its POST failed before a replica answered; hung when none of these happened within
    the hang timeout. A POST refused with 404, or the stream's end, ends the session: the next calls go to a new one,
    while the old stream is still read until it ends (a draining replica ends it once what it accepted has answered)."""

    TOOLS = ("echo", "add", "countdown", "ask")

    def __init__(self, name: str, shared: Shared) -> None:
        self.name = name
        self.s = shared
        self.rec = shared.rec
        self.stream_http = new_http()  # the long GET
        self.http = new_http()         # the POSTs, a fresh connection each
        self.base = shared.url.rsplit("/", 1)[0]  # nginx's origin (the shared url is its /mcp)
        self._calls = 0
        self._tg: anyio.abc.TaskGroup | None = None

    async def run(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                while not self.s.stop.is_set():
                    sess = await self._open()
                    if sess is None:
                        await anyio.sleep(0.3)
                        continue
                    # Two workers: one calls back to back, the other now and then, so that calls sometimes overlap.
                    # A call waiting for its answer holds only its worker: the other still meets a 404 when the
                    # session is gone, and the next session starts without waiting for the first.
                    tg.start_soon(self._worker, sess, True)
                    tg.start_soon(self._worker, sess, False)
                    while not (self.s.stop.is_set() or sess.gone):
                        await anyio.sleep(0.05)
                    if not self.s.stop.is_set():
                        tg.start_soon(self._retire, sess)
                await self.s.streams_stop.wait()
                tg.cancel_scope.cancel()
        finally:
            await self.http.aclose()
            await self.stream_http.aclose()

    # -- the stream -----------------------------------------------------------------------------------------------------

    async def _open(self) -> _MessageSession | None:
        """GET /sse, then initialize and notifications/initialized; None when the session could not be set up (its
        stream, if any, is closed)."""
        ms = MessageStream(self.name, self.rec.now())
        self.rec.sse_streams.append(ms)
        sess = _MessageSession(len(self.rec.sse_streams) - 1, ms)
        assert self._tg is not None
        self._tg.start_soon(self._read, sess)
        with anyio.move_on_after(SSE_OPEN_WAIT):
            await sess.endpoint.wait()
        if sess.post_url is None:
            self._close(sess, f"no endpoint event within {SSE_OPEN_WAIT:.0f} s")
            return None
        init = await self._request(sess, "initialize", "", {})
        if init.outcome != "ok":
            self._close(sess, f"initialize: {init.outcome}")
            return None
        reply = await exchange(self.http, self.rec, "POST", sess.post_url, JSON_POST,
                               encode({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        if reply.status != 202:
            if reply.status == 404:
                self._refused(sess)
            self._close(sess, f"notifications/initialized: {reply.status or reply.error}")
            return None
        ms.initialized = True
        return sess

    def _close(self, sess: _MessageSession, why: str) -> None:
        """The client closes the session's stream (a no-op when it has ended)."""
        sess.gone = True
        if not sess.ended.is_set():
            sess.record.detail = why
            if sess.scope is not None:
                sess.scope.cancel()

    def _refused(self, sess: _MessageSession) -> None:
        sess.gone = True
        if sess.record.t_refused is None:
            sess.record.t_refused = self.rec.now()

    async def _retire(self, sess: _MessageSession) -> None:
        """A session left after a 404: its stream must end by itself once what it accepted has answered (a drain
        closes it; a lost holder or session drops it). If it is still open `hang_timeout` s after that, the client
        closes it, and says so in the record."""
        if sess.ended.is_set() or sess.record.t_refused is None:
            return
        with anyio.move_on_after(self.s.hang_timeout + 1):
            while sess.pending():
                await anyio.sleep(0.05)
        with anyio.move_on_after(self.s.hang_timeout):
            await sess.ended.wait()
            return
        self._close(sess, f"still open {self.s.hang_timeout:.0f} s after a POST of its session got 404")

    async def _read(self, sess: _MessageSession) -> None:
        """Holds the GET /sse stream until it ends (or the client closes it), dispatching its events."""
        ms = sess.record
        with anyio.CancelScope() as scope:
            sess.scope = scope
            try:
                async with self.stream_http.stream("GET", self.base + "/sse", headers={"accept": "text/event-stream"}) as r:
                    ms.status = r.status_code
                    ms.upstream = self.rec.replica_of_port(upstream_port(r))
                    if r.status_code != 200 or not is_event_stream(r):
                        ms.end = f"http {r.status_code}"
                        ms.detail = str(json_body(await r.aread()))[:200]
                        return
                    try:
                        async for frame in sse_frames(r):
                            await self._on_frame(sess, frame)
                        ms.end = "ended"
                    except httpx2.RequestError as exc:
                        ms.end = "broke"
                        ms.detail = f"{type(exc).__name__}: {exc}"[:200]
            except httpx2.RequestError as exc:
                if not ms.end:
                    ms.end = "transport"
                    ms.detail = f"{type(exc).__name__}: {exc}"[:200]
            finally:
                ms.t_end = self.rec.now()
                ms.end = ms.end or "closed"
                sess.gone = True
                sess.ended.set()
                sess.endpoint.set()
                for p in sess.calls.values():
                    p.done.set()

    async def _on_frame(self, sess: _MessageSession, frame: Frame) -> None:
        if frame.event == "endpoint":
            if sess.post_url is None:
                path = frame.data.strip()
                sess.post_url = path if path.startswith("http") else self.base + path
                sess.record.t_endpoint = self.rec.now()
                sess.record.session = path.partition("sessionId=")[2]
                sess.endpoint.set()
            return
        msg = frame.message if frame.data else None
        if not isinstance(msg, dict):
            return
        method = msg.get("method")
        if method == "notifications/progress":
            p = sess.by_token.get((msg.get("params") or {}).get("progressToken"))
            if p is not None:
                p.call.progress += 1
        elif method == "elicitation/create" and "id" in msg:
            assert self._tg is not None
            self._tg.start_soon(self._answer, sess, msg)
        elif method is None and "id" in msg and ("result" in msg or "error" in msg):
            p = sess.calls.get(msg["id"])
            if p is None:
                sess.record.unknown_responses += 1
                return
            call = p.call
            call.finals += 1
            if call.outcome is None:
                settle_final(self.rec, call, msg, p.tool, p.arguments)
                if call.attempts:
                    call.attempts[0].result = ATTEMPT_FINAL
                p.done.set()
            elif call.finals == 1:
                call.late_answers += 1  # it had ended otherwise (refused, a failed POST, hung)

    # -- requests -------------------------------------------------------------------------------------------------------

    async def _worker(self, sess: _MessageSession, lead: bool) -> None:
        while not (self.s.stop.is_set() or sess.gone):
            if not lead:
                await anyio.sleep(self.s.rng.uniform(0.3, 1.5))
                if self.s.stop.is_set() or sess.gone:
                    return
            await self._tool_call(sess)
            if lead:
                await anyio.sleep(self.s.rng.uniform(0.02, 0.15))

    async def _tool_call(self, sess: _MessageSession) -> None:
        self._calls += 1
        tool, arguments = pick_tool(self.s.rng, self.TOOLS, self._calls)
        await self._request(sess, f"tools/call:{tool}", tool, arguments)

    async def _request(self, sess: _MessageSession, method: str, tool: str, arguments: dict[str, Any]) -> Call:
        """POSTs one request and waits for its answer on the stream; records what it got."""
        rpc_id = sess.next_id
        sess.next_id += 1
        call = self.rec.call(self.name, "sse", method)
        call.stream = sess.index
        if tool == "countdown":
            call.expected_progress = arguments["steps"]
        sess.record.calls += 1
        p = _Pending(call, rpc_id, tool, arguments)
        sess.calls[rpc_id] = p
        if tool:
            token = f"{self.name}.{sess.index}.p{rpc_id}" if tool == "countdown" else None
            msg = request(rpc_id, "tools/call", tool_params(tool, arguments, token))
            if token is not None:
                sess.by_token[token] = p
            if tool == "ask":
                sess.by_question[arguments["question"]] = p
        else:
            msg = initialize_msg(self.name)
            msg["id"] = rpc_id
        with anyio.move_on_after(self.s.hang_timeout):
            attempt = call.attempt("post", call.t_sent)
            assert sess.post_url is not None
            reply = await exchange(self.http, self.rec, "POST", sess.post_url, JSON_POST, encode(msg), attempt=attempt)
            if reply.status == 202:
                await p.done.wait()
                if call.outcome is None:  # the stream ended first
                    attempt.result = ATTEMPT_CUT
                    self.rec.finish(call, "lost_with_stream",
                                    detail=f"the stream held by {sess.record.upstream} {sess.record.end} before the answer"
                                    + (f" ({sess.record.detail})" if sess.record.detail else ""))
            elif call.outcome is None:
                settle_refusal(self.rec, call, attempt, reply)
                if reply.status == 404:
                    self._refused(sess)
            else:
                call.detail += f"; its POST got {reply.status or reply.error}"
        if call.outcome is None:
            self.rec.finish(call, "hung", detail=f"no answer within {self.s.hang_timeout:.0f} s (POST "
                            + (f"{call.attempts[0].status}" if call.attempts and call.attempts[0].t_end is not None else "unanswered")
                            + f", stream {sess.record.end or 'open'})")
        return call

    async def _answer(self, sess: _MessageSession, msg: dict[str, Any]) -> None:
        """POSTs the answer to an elicitation/create (once; a transport error is retried)."""
        request_id = msg["id"]
        if request_id in sess.answered:
            return
        sess.answered.add(request_id)
        question = (msg.get("params") or {}).get("message", "")
        p = sess.by_question.get(question)
        answer = {"jsonrpc": "2.0", "id": request_id, "result": {"action": "accept", "content": {"answer": answer_for(question)}}}
        assert sess.post_url is not None
        await post_answer(self.http, self.rec, self.rec.sse_answers, sess.post_url, JSON_POST, answer,
                          note=p.call.server_requests.append if p is not None else None)


# --------------------------------------------------------------------------------------------------------------------
# Stateless clients (2026-07-28)
# --------------------------------------------------------------------------------------------------------------------


async def stateless_call(http: httpx2.AsyncClient, s: Shared, client: str, kind: str, tool: str, arguments: dict[str, Any]) -> Call:
    """One tools/call, re-issued (a new JSON-RPC id each time) when its stream is cut, on a transport error or a 503."""
    rec = s.rec
    call = rec.call(client, kind, f"tools/call:{tool}")
    with anyio.move_on_after(s.hang_timeout):
        for n in range(REISSUES):
            rpc_id = f"{call.call_id}#{n}"
            token = f"{rpc_id}-p" if tool == "countdown" else None
            msg = request(rpc_id, "tools/call", tool_params(tool, arguments, token, stateless=True))

            async def on_frame(frame: Frame) -> bool:
                m = frame.message
                if isinstance(m, dict) and m.get("method") == "notifications/progress":
                    call.progress += 1
                elif is_final_for(m, rpc_id):
                    call.finals += 1
                    settle_final(rec, call, m, tool, arguments)
                    return True
                return False

            attempt = call.attempt("post" if n == 0 else "reissue", rec.now())
            reply = await exchange(http, rec, "POST", s.url, stateless_headers("tools/call", tool), encode(msg),
                                   on_frame=on_frame, attempt=attempt)
            if reply.stream == "done":
                attempt.result = ATTEMPT_FINAL
                return call
            if reply.stream is not None:
                attempt.result = ATTEMPT_CUT
                attempt.detail = attempt.detail or "the stream ended without a final response"
                continue
            if reply.status == 200 and is_final_for(reply.body, rpc_id):
                attempt.result = ATTEMPT_FINAL
                call.finals += 1
                settle_final(rec, call, reply.body, tool, arguments)
                return call
            if is_transport_failure(reply):
                attempt.result = ATTEMPT_TRANSPORT
                await anyio.sleep(0.1)
                continue
            if reply.status == 503 and n + 1 < REISSUES:
                attempt.result = ATTEMPT_REFUSED
                await anyio.sleep(retry_pause(reply.retry_after))
                continue
            settle_refusal(rec, call, attempt, reply)
            return call
        last = call.attempts[-1]
        rec.finish(call, "transport" if last.result in (ATTEMPT_TRANSPORT, ATTEMPT_CUT) else "refused",
                   detail=f"gave up after {REISSUES} attempts: {last.detail or last.status}")
    if call.outcome is None:
        rec.finish(call, "hung", detail=f"no final response within {s.hang_timeout:.0f} s")
    return call


class StatelessClient:
    TOOLS = ("echo", "add", "countdown")

    def __init__(self, name: str, shared: Shared) -> None:
        self.name = name
        self.s = shared
        self.http = new_http()

    async def run(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._listen_loop)
                n = 0
                while not self.s.stop.is_set():
                    n += 1
                    tool, arguments = pick_tool(self.s.rng, self.TOOLS, n)
                    await stateless_call(self.http, self.s, self.name, "stateless", tool, arguments)
                    await anyio.sleep(self.s.rng.uniform(0.02, 0.15))
        finally:
            await self.http.aclose()

    async def _listen_loop(self) -> None:
        """A subscriptions/listen stream on demo://counter, opened again whenever it ends, until streams close."""
        rec = self.s.rec
        with anyio.CancelScope() as scope:
            async def closer() -> None:
                await self.s.streams_stop.wait()
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(closer)
                n = 0
                while True:
                    n += 1
                    ep = ListenEpisode(self.name, rec.now())
                    rec.listens.append(ep)
                    rpc_id = f"{self.name}.listen{n}"
                    msg = request(rpc_id, "subscriptions/listen",
                                  {"notifications": {"resourceSubscriptions": [COUNTER_URI]}, "_meta": dict(STATELESS_META)})

                    async def on_frame(frame: Frame, ep: ListenEpisode = ep, rpc_id: str = rpc_id) -> bool:
                        m = frame.message
                        if not isinstance(m, dict):
                            return False
                        if m.get("method") == "notifications/subscriptions/acknowledged":
                            ep.t_ack = rec.now()
                        elif m.get("method") == "notifications/resources/updated" and (m.get("params") or {}).get("uri") == COUNTER_URI:
                            ep.received.append(rec.now())
                        elif is_final_for(m, rpc_id):
                            ep.end = "final" if "result" in m else f"error {error_code(m)}"
                            return True
                        return False

                    try:
                        reply = await exchange(self.http, rec, "POST", self.s.url, stateless_headers("subscriptions/listen"),
                                               encode(msg), on_frame=on_frame, after_done=0)
                    finally:
                        ep.t_end = rec.now()
                        ep.end = ep.end or "closed"
                    ep.upstream = reply.upstream
                    if reply.stream in ("ended", "broke"):
                        ep.end = "cut"
                    elif reply.stream is None:
                        ep.end = f"http {reply.status}" if reply.status else "transport"
                    await anyio.sleep(0.1 if ep.end in ("final", "cut") else RESUME_PAUSE)


class Toucher:
    """touch demo://counter every `touch_every` seconds (stateless), recording each."""

    def __init__(self, shared: Shared) -> None:
        self.s = shared
        self.http = new_http()

    async def run(self) -> None:
        try:
            while not self.s.stop.is_set():
                t_next = self.s.rec.now() + self.s.touch_every
                call = await stateless_call(self.http, self.s, "toucher", "touch", "touch", {"uri": COUNTER_URI})
                self.s.rec.touches.append(Touch(call.t_sent, call.t_final, call.outcome == "ok", len(call.attempts)))
                await anyio.sleep(max(0.0, t_next - self.s.rec.now()))
        finally:
            await self.http.aclose()


# --------------------------------------------------------------------------------------------------------------------
# Task client (2026-07-28, the io.modelcontextprotocol/tasks extension)
# --------------------------------------------------------------------------------------------------------------------

TASK_POLL = 0.25  # seconds between two tasks/get of one task


class TaskClient:
    """Starts a long-job task every `task_every` seconds through nginx and follows each with tasks/get (through nginx,
    so on any replica) until it is terminal, recording a `TaskRun` per task."""

    def __init__(self, name: str, shared: Shared) -> None:
        self.name = name
        self.s = shared
        self.rec = shared.rec
        self.http = new_http()

    async def run(self) -> None:
        try:
            async with anyio.create_task_group() as tg:
                while not self.s.stop.is_set():
                    t_next = self.rec.now() + self.s.task_every
                    steps, interval = self.s.rng.randint(10, 30), self.s.rng.randint(50, 100)
                    task = TaskRun(self.name, steps, interval, self.rec.now())
                    self.rec.tasks.append(task)
                    tg.start_soon(self._one, task, len(self.rec.tasks))
                    await anyio.sleep(max(0.0, t_next - self.rec.now()))
        finally:
            await self.http.aclose()

    async def _send(self, rpc_id: str, method: str, params: dict[str, Any], name: str) -> tuple[Reply, Any]:
        """One request; (the exchange, the final JSON-RPC message for `rpc_id` or None)."""
        msg = request(rpc_id, method, {**params, "_meta": dict(TASK_META)})
        final: list[Any] = []

        async def on_frame(frame: Frame) -> bool:
            m = frame.message
            if is_final_for(m, rpc_id):
                final.append(m)
                return True
            return False

        reply = await exchange(self.http, self.rec, "POST", self.s.url, stateless_headers(method, name), encode(msg),
                               on_frame=on_frame, after_done=0)
        if not final and reply.stream is None and is_final_for(reply.body, rpc_id):
            final.append(reply.body)
        return reply, final[0] if final else None

    async def _one(self, task: TaskRun, n: int) -> None:
        if await self._create(task, n):
            await self._follow(task)

    async def _create(self, task: TaskRun, n: int) -> bool:
        """tools/call long-job, re-issued (a new id) on a cut stream, a transport error or a 503; True when the answer
        was a CreateTaskResult."""
        arguments = {"steps": task.steps, "intervalMs": task.interval_ms}
        with anyio.move_on_after(self.s.hang_timeout):
            for k in range(REISSUES):
                task.create_attempts += 1
                reply, final = await self._send(f"{self.name}.{n}.create#{k}", "tools/call",
                                                {"name": "long-job", "arguments": arguments}, "long-job")
                if final is not None:
                    if "error" in final:
                        self.rec.end_task(task, "not_created", error_code=error_code(final),
                                          detail=str(final["error"].get("message", ""))[:200] if isinstance(final["error"], dict) else "")
                        return False
                    result = final.get("result") if isinstance(final.get("result"), dict) else {}
                    if result.get("resultType") != "task" or not isinstance(result.get("taskId"), str):
                        self.rec.end_task(task, "not_created", detail=f"not a CreateTaskResult: {str(result)[:200]}")
                        return False
                    task.task_id, task.t_created, task.created_by = result["taskId"], self.rec.now(), reply.upstream
                    task.status = result.get("status")
                    task.deadline = task.t_created + task.steps * task.interval_ms / 1000 + self.s.hang_timeout
                    return True
                if reply.stream is not None or is_transport_failure(reply):
                    await anyio.sleep(0.1)
                    continue
                if reply.status == 503:
                    await anyio.sleep(retry_pause(reply.retry_after))
                    continue
                err = reply.body.get("error") if isinstance(reply.body, dict) else None
                self.rec.end_task(task, "not_created", error_code=err.get("code") if isinstance(err, dict) else None,
                                  detail=f"HTTP {reply.status}" + (f": {str(err.get('message', ''))[:160]}" if isinstance(err, dict) else ""))
                return False
            self.rec.end_task(task, "not_created", detail=f"gave up after {REISSUES} attempts ({reply.status or reply.error})")
            return False
        self.rec.end_task(task, "create_hung", detail=f"no answer to tools/call within {self.s.hang_timeout:.0f} s")
        return False

    async def _follow(self, task: TaskRun) -> None:
        """tasks/get every TASK_POLL s until the task is terminal, unknown (lost) or past its deadline (hung)."""
        assert task.task_id is not None and task.deadline is not None
        last = ""
        while task.outcome is None:
            left = task.deadline - self.rec.now()
            if left <= 0:
                self.rec.end_task(task, "hung", detail=f"status {task.status} at the deadline ({last or 'answered'})")
                return
            task.polls += 1
            reply, final = Reply(), None
            with anyio.move_on_after(left):
                reply, final = await self._send(f"{self.name}.{task.task_id}.get{task.polls}", "tasks/get",
                                                {"taskId": task.task_id}, task.task_id)
            if final is None:
                task.poll_retries += 1
                last = f"last tasks/get: {reply.status or reply.error or 'no answer'}"
                what = f"HTTP {reply.status}" if reply.status else "transport"
                task.poll_failures[what] = task.poll_failures.get(what, 0) + 1
            elif "error" in final:
                code = error_code(final)
                if code == UNKNOWN_TASK:
                    self.rec.end_task(task, "lost", error_code=code,
                                      detail=f"tasks/get via {reply.upstream}: {str(final['error'].get('message', ''))[:160]}")
                    return
                task.poll_retries += 1
                last = f"last tasks/get: error {code}"
                what = f"HTTP {reply.status} error {code}"
                task.poll_failures[what] = task.poll_failures.get(what, 0) + 1
            else:
                result = final.get("result") if isinstance(final.get("result"), dict) else {}
                task.status = result.get("status")
                if reply.upstream and (not task.served_by or task.served_by[-1] != reply.upstream):
                    task.served_by.append(reply.upstream)
                if task.status in TASK_TERMINAL:
                    self._settle(task, result)
                    return
            await anyio.sleep(TASK_POLL)

    def _settle(self, task: TaskRun, t: dict[str, Any]) -> None:
        if t.get("status") == "completed":
            res = t.get("result") if isinstance(t.get("result"), dict) else {}
            content = res.get("content") or [{}]
            text = content[0].get("text") if isinstance(content[0], dict) else None
            want = f"done: {task.steps}"
            if res.get("isError") or text != want:
                self.rec.end_task(task, "bad_result", detail=f"completed with {str(res)[:200]} (expected {want!r})")
            else:
                self.rec.end_task(task, "completed")
        elif t.get("status") == "failed":
            err = t.get("error") if isinstance(t.get("error"), dict) else {}
            self.rec.end_task(task, "failed", error_code=err.get("code") if isinstance(err.get("code"), int) else None,
                              detail=str(err)[:200])
        else:
            self.rec.end_task(task, "cancelled", detail=str(t.get("statusMessage", ""))[:200])
