"""Raw HTTP helpers for the legacy (session-based, 2025-03-26 .. 2025-11-25) Streamable HTTP tests.

Works with `httpx2` (mcp 2.x venv) and `httpx` (mcp 1.x venv) clients alike; give it a client made by
`connect.http()` / `connect.httpx()` so that everything the server sends is schema-validated by the
tee (interop_wire.py).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator

import anyio

from interop_wire import _SSEParser

LATEST_LEGACY = "2025-11-25"
ACCEPT_BOTH = "application/json, text/event-stream"


@dataclass
class Frame:
    """One SSE frame: a priming event has an id and empty data."""

    id: str | None
    data: str
    retry: str | None
    event: str

    @property
    def message(self) -> Any:
        return json.loads(self.data) if self.data else None

    @property
    def is_priming(self) -> bool:
        return self.data == "" and self.id is not None


async def sse_frames(response: Any) -> AsyncIterator[Frame]:
    """Every frame of an SSE response as it arrives (also priming and retry-only frames)."""
    pending: list[Frame] = []
    parser = _SSEParser(None, lambda ev, data, eid, retry: pending.append(Frame(eid, data, retry, ev)))
    async for chunk in response.aiter_bytes():
        parser.feed(chunk)
        while pending:
            yield pending.pop(0)
    parser.close()
    while pending:
        yield pending.pop(0)


def data_frames(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f.data]


def body_messages(response: Any, frames: list[Frame] | None = None) -> list[Any]:
    """The JSON-RPC messages of a read response (JSON body or SSE frames)."""
    if frames is not None:
        return [f.message for f in data_frames(frames)]
    ctype = response.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        return [response.json()]
    return []


class RawSession:
    """A legacy session driven by hand."""

    def __init__(self, http: Any, url: str, session_id: str, version: str, init_result: dict[str, Any]) -> None:
        self.http = http
        self.url = url
        self.session_id = session_id
        self.version = version
        self.init_result = init_result
        self._next_id = 1000

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def headers(self, *, protocol: str | None = "negotiated", session: str | None = "own", **extra: str) -> dict[str, str]:
        h = {"content-type": "application/json", "accept": ACCEPT_BOTH}
        if session is not None:
            h["mcp-session-id"] = self.session_id if session == "own" else session
        if protocol is not None:
            h["mcp-protocol-version"] = self.version if protocol == "negotiated" else protocol
        h.update(extra)
        return h

    def request_msg(self, method: str, params: dict[str, Any] | None = None, *, id: Any = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id() if id is None else id, "method": method}
        if params is not None:
            msg["params"] = params
        return msg

    async def post(self, msg: Any, **header_kw: Any) -> Any:
        """POST one message and read the whole response."""
        return await self.http.post(self.url, content=json.dumps(msg).encode(), headers=self.headers(**header_kw))

    async def call(self, method: str, params: dict[str, Any] | None = None, **header_kw: Any) -> dict[str, Any]:
        """A request whose final response is returned (JSON body or the last SSE message)."""
        msg = self.request_msg(method, params)
        async with self.stream(msg, **header_kw) as (response, frames):
            if frames is None:
                body = await response.aread()
                ctype = response.headers.get("content-type", "")
                assert ctype.startswith("application/json"), f"{method}: HTTP {response.status_code} {ctype!r} {body[:300]!r}"
                return json.loads(body)
            assert response.status_code == 200, f"{method}: HTTP {response.status_code} with an event stream"
            async for frame in frames:
                m = frame.message
                if isinstance(m, dict) and m.get("id") == msg["id"] and ("result" in m or "error" in m):
                    return m
        raise AssertionError(f"{method}: the stream ended without a response")

    @contextlib.asynccontextmanager
    async def stream(self, msg: Any, **header_kw: Any):
        """POST one message and stream the response: yields (response, frames) where frames is an
        async iterator of SSE frames, or None when the response is not an event stream."""
        async with self.http.stream("POST", self.url, content=json.dumps(msg).encode(), headers=self.headers(**header_kw)) as r:
            if r.headers.get("content-type", "").startswith("text/event-stream"):
                yield r, sse_frames(r)
            else:
                yield r, None

    @contextlib.asynccontextmanager
    async def get(self, last_event_id: str | None = None, **header_kw: Any):
        """GET the endpoint (the standalone stream, or a resumption with Last-Event-ID)."""
        h = self.headers(**header_kw)
        h["accept"] = "text/event-stream"
        h.pop("content-type", None)
        if last_event_id is not None:
            h["last-event-id"] = last_event_id
        async with self.http.stream("GET", self.url, headers=h) as r:
            if r.status_code == 200 and r.headers.get("content-type", "").startswith("text/event-stream"):
                yield r, sse_frames(r)
            else:
                await r.aread()
                yield r, None

    async def delete(self, **header_kw: Any) -> Any:
        h = self.headers(**header_kw)
        h.pop("content-type", None)
        return await self.http.request("DELETE", self.url, headers=h)

    async def notify(self, method: str, params: dict[str, Any] | None = None, **header_kw: Any) -> Any:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        return await self.post(msg, **header_kw)

    async def respond(self, request_id: Any, result: dict[str, Any]) -> Any:
        """POST the client's JSON-RPC response to a server-to-client request."""
        return await self.post({"jsonrpc": "2.0", "id": request_id, "result": result})


async def initialize(
    http: Any,
    url: str,
    version: str = LATEST_LEGACY,
    capabilities: dict[str, Any] | None = None,
    *,
    initialized: bool = True,
) -> RawSession:
    """The initialize handshake (no session header, no protocol header), then notifications/initialized."""
    body = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": capabilities or {},
            "clientInfo": {"name": "raw-legacy-interop", "version": "1.0"},
        },
    }
    r = await http.post(url, content=json.dumps(body).encode(), headers={"content-type": "application/json", "accept": ACCEPT_BOTH})
    assert r.status_code == 200, f"initialize: HTTP {r.status_code} {r.text!r}"
    sid = r.headers.get("mcp-session-id")
    assert sid, f"initialize response without Mcp-Session-Id: {dict(r.headers)}"
    if r.headers.get("content-type", "").startswith("application/json"):
        msg = r.json()
    else:
        msg = [json.loads(line[5:].strip()) for line in r.text.splitlines() if line.startswith("data:") and line[5:].strip()][-1]
    assert msg.get("id") == 0 and "result" in msg, msg
    s = RawSession(http, url, sid, msg["result"]["protocolVersion"], msg["result"])
    if initialized:
        n = await s.notify("notifications/initialized")
        assert n.status_code == 202, f"notifications/initialized: HTTP {n.status_code} {n.text!r}"
    return s


async def next_frame(frames: AsyncIterator[Frame], timeout: float = 10.0) -> Frame:
    with anyio.fail_after(timeout):
        return await frames.__anext__()


async def next_message(frames: AsyncIterator[Frame], timeout: float = 10.0) -> Frame:
    """The next frame that carries data (priming and retry-only frames are skipped)."""
    with anyio.fail_after(timeout):
        while True:
            f = await frames.__anext__()
            if f.data:
                return f


async def collect(frames: AsyncIterator[Frame], timeout: float = 10.0) -> list[Frame]:
    """Every remaining frame until the server ends the stream."""
    out = []
    with anyio.fail_after(timeout):
        async for f in frames:
            out.append(f)
    return out


async def read_stats(s: RawSession) -> dict[str, Any]:
    m = await s.call("resources/read", {"uri": "demo://stats"})
    return json.loads(m["result"]["contents"][0]["text"])


async def poll_stats(s: RawSession, predicate, timeout: float = 10.0) -> dict[str, Any]:
    last: dict[str, Any] = {}
    with anyio.move_on_after(timeout):
        while True:
            last = await read_stats(s)
            if predicate(last):
                return last
            await anyio.sleep(0.05)
    return last
