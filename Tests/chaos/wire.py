"""What the chaos clients put on the wire and how they read it back: headers, JSON-RPC messages, an SSE parser,
and the classification of one HTTP exchange (final answer, refusal, transport error, cut stream).

Raw HTTP on purpose (no MCP SDK): every request is built, sent and timed here, so that the harness sees exactly what
each replica answered and when.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, AsyncIterator

SESSION_VERSION = "2025-11-25"
STATELESS_VERSION = "2026-07-28"
ACCEPT_BOTH = "application/json, text/event-stream"
COUNTER_URI = "demo://counter"
REPLICA_STOPPED = -32010  # the runtime's JSON-RPC error for a request whose replica was lost or hit the drain deadline

STATELESS_META = {
    "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
}
TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
TASK_META = {  # a 2026-07-28 request of a client that declares the tasks extension (long-job then runs as a task)
    "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
    "io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS_EXTENSION: {}}},
}
TASK_TERMINAL = ("completed", "failed", "cancelled")
UNKNOWN_TASK = -32602  # tasks/get's error for a task id the store does not have


# --------------------------------------------------------------------------------------------------------------------
# Messages and headers
# --------------------------------------------------------------------------------------------------------------------


def request(rpc_id: Any, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rpc_id, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def tool_params(name: str, arguments: dict[str, Any], progress_token: Any = None, stateless: bool = False) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    meta: dict[str, Any] = dict(STATELESS_META) if stateless else {}
    if progress_token is not None:
        meta["progressToken"] = progress_token
    if meta:
        params["_meta"] = meta
    return params


def stateless_headers(method: str, tool: str | None = None) -> dict[str, str]:
    h = {
        "content-type": "application/json",
        "accept": ACCEPT_BOTH,
        "mcp-protocol-version": STATELESS_VERSION,
        "mcp-method": method,
    }
    if tool is not None:
        h["mcp-name"] = tool
    return h


def session_headers(session_id: str | None, version: str = SESSION_VERSION, *, get: bool = False, last_event_id: str | None = None) -> dict[str, str]:
    h = {"accept": "text/event-stream"} if get else {"content-type": "application/json", "accept": ACCEPT_BOTH}
    if session_id is not None:
        h["mcp-session-id"] = session_id
        h["mcp-protocol-version"] = version
    if last_event_id is not None:
        h["last-event-id"] = last_event_id
    return h


def initialize_msg(client_name: str) -> dict[str, Any]:
    return request(0, "initialize", {
        "protocolVersion": SESSION_VERSION,
        "capabilities": {"elicitation": {}},
        "clientInfo": {"name": client_name, "version": "1.0"},
    })


def encode(msg: Any) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode()


# --------------------------------------------------------------------------------------------------------------------
# Server-sent events
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class Frame:
    """One SSE frame. A priming event has an id and empty data."""

    id: str | None
    data: str
    event: str

    @property
    def message(self) -> Any:
        return json.loads(self.data) if self.data else None

    @property
    def is_priming(self) -> bool:
        return self.id is not None and self.data == ""


class SSEParser:
    """Incremental text/event-stream parser: feed bytes, take the frames that are complete (comments, such as
    keep-alives, are skipped; a frame with only a `retry:` field is dropped)."""

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._id: str | None = None
        self._event = ""
        self._fields = 0

    def feed(self, chunk: bytes) -> list[Frame]:
        self._buf += chunk.replace(b"\r\n", b"\n")
        frames: list[Frame] = []
        while (nl := self._buf.find(b"\n")) >= 0:
            line, self._buf = self._buf[:nl].decode("utf-8", "replace"), self._buf[nl + 1:]
            if line == "":
                if self._data or self._id is not None:
                    frames.append(Frame(self._id, "\n".join(self._data), self._event or "message"))
                self._data, self._id, self._event, self._fields = [], None, "", 0
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                self._data.append(value)
            elif name == "id":
                self._id = value
            elif name == "event":
                self._event = value
        return frames


async def sse_frames(response: Any) -> AsyncIterator[Frame]:
    """Every frame of a streamed response as it arrives."""
    parser = SSEParser()
    async for chunk in response.aiter_bytes():
        for frame in parser.feed(chunk):
            yield frame


def is_event_stream(response: Any) -> bool:
    return response.headers.get("content-type", "").startswith("text/event-stream")


# --------------------------------------------------------------------------------------------------------------------
# Reading answers
# --------------------------------------------------------------------------------------------------------------------


def is_final_for(msg: Any, rpc_id: Any) -> bool:
    return isinstance(msg, dict) and "method" not in msg and msg.get("id") == rpc_id and ("result" in msg or "error" in msg)


def error_code(msg: Any) -> int | None:
    if isinstance(msg, dict) and isinstance(msg.get("error"), dict):
        code = msg["error"].get("code")
        return code if isinstance(code, int) else None
    return None


def json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def check_result(tool: str, arguments: dict[str, Any], result: Any) -> str | None:
    """Why a successful tool result is not the one the demo contract promises, or None when it is."""
    if not isinstance(result, dict):
        return "result is not an object"
    if result.get("isError"):
        return f"isError result: {json.dumps(result)[:200]}"
    content = result.get("content") or [{}]
    text = content[0].get("text") if isinstance(content[0], dict) else None
    if tool == "echo" and text != arguments["text"]:
        return f"echo returned {text!r}"
    if tool == "add" and (result.get("structuredContent") or {}).get("sum") != arguments["a"] + arguments["b"]:
        return f"add returned {result.get('structuredContent')!r}"
    if tool == "countdown" and text != "done":
        return f"countdown returned {text!r}"
    if tool == "ask" and text != f"answer: {answer_for(arguments['question'])}":
        return f"ask returned {text!r}"
    return None


def answer_for(question: str) -> str:
    """The answer the session clients give to an elicitation about `question` (checked in the final text)."""
    return f"yes to {question}"


def upstream_port(response: Any) -> int | None:
    """The port of the replica nginx passed the request to last (its X-Upstream header), if any."""
    up = response.headers.get("x-upstream")
    if not up:
        return None
    last = up.split(",")[-1].strip()
    try:
        return int(last.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None
