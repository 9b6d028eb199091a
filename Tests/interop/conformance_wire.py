"""The 2026-07-28 stateless wire of the official conformance harness, shared by the test_conformance_2026_07_28*.py
files (the core scenarios, the `input-required-result-*` ones and the tasks extension).

* no handshake: every request is an independent `POST` of one JSON-RPC request (`rpc_request`, ids from `next_id`);
* `std_headers`: `Content-Type: application/json`, `Accept: application/json, text/event-stream`,
  `MCP-Protocol-Version`, `Mcp-Method: <method>` and `Mcp-Name` for the methods of a routing table (by default
  `MCP_NAME_PARAMS`: tools/call and prompts/get by `params.name`, resources/read by `params.uri`); an override
  replaces the default of the same name in any case;
* `with_meta`: params plus the per-request `_meta` (protocol version, client info, client capabilities, by default
  the harness's); keys already in `params._meta` win;
* `post`: sends one request and reads the answer into a `Reply`: a JSON body, or an SSE stream (`sse_events`) read
  until the JSON-RPC response with the request's id; `result_of` turns it into the result or raises `RpcError`.

What the files do differently stays a parameter of these functions: which HTTP client posts (the validating tee of
`conformance.http()`, or the tasks tests' plain client with their own schema validation), the client info and the
capabilities, the Mcp-Name routing table (the tasks extension routes tasks/* by `taskId`), the full header set (the
core tests add Node fetch's headers) and the bound on one exchange.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import anyio
import httpx2

VERSION = "2026-07-28"
PV = "io.modelcontextprotocol/protocolVersion"
CI = "io.modelcontextprotocol/clientInfo"
CC = "io.modelcontextprotocol/clientCapabilities"

# What the official harness sends unless a scenario says otherwise.
HARNESS_CLIENT_INFO = {"name": "conformance-test-client", "version": "1.0.0"}
HARNESS_CAPABILITIES = {"sampling": {}, "elicitation": {}, "roots": {"listChanged": True}}
# The client info the mrtr and tasks tests send instead of the harness's.
OWN_CLIENT_INFO = {"name": "swift-mcp-conformance-tests", "version": "1.0.0"}
WAIT = 8.0  # default bound on one exchange

# The param each method names in Mcp-Name.
MCP_NAME_PARAMS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}

_ids = itertools.count(1)


def next_id() -> int:
    return next(_ids)


def rpc_request(method: str, params: dict[str, Any] | None = None, rid: Any = None) -> dict[str, Any]:
    """A JSON-RPC request (a fresh id unless `rid` is given; no `params` member when params is None)."""
    payload: dict[str, Any] = {"jsonrpc": "2.0", "id": next_id() if rid is None else rid, "method": method}
    if params is not None:
        payload["params"] = params
    return payload


def std_headers(
    method: str,
    params: dict[str, Any] | None = None,
    overrides: dict[str, str] | None = None,
    *,
    names: dict[str, str] = MCP_NAME_PARAMS,
) -> dict[str, str]:
    """The conformant header set; an override replaces the default of the same name (any case)."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": VERSION,
        "Mcp-Method": method,
    }
    name_param = names.get(method)
    name = (params or {}).get(name_param) if name_param else None
    if isinstance(name, str):
        headers["Mcp-Name"] = name
    for key, value in (overrides or {}).items():
        for existing in [k for k in headers if k.lower() == key.lower()]:
            del headers[existing]
        headers[key] = value
    return headers


def with_meta(
    params: dict[str, Any] | None = None,
    *,
    client_info: dict[str, str] = HARNESS_CLIENT_INFO,
    capabilities: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """params plus the per-request `_meta` (capabilities default to the harness's); keys already in params._meta win."""
    out = dict(params or {})
    meta: dict[str, Any] = {PV: VERSION, CI: client_info, CC: HARNESS_CAPABILITIES if capabilities is None else capabilities}
    meta.update(out.get("_meta") or {})
    out["_meta"] = meta
    return out


def short(value: Any, limit: int = 600) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."


def parse_sse(text: str) -> list[Any]:
    """The JSON data of each event of an SSE body (events whose data is not JSON are left out)."""
    out: list[Any] = []
    data: list[str] = []
    for line in re.split(r"\r\n|\r|\n", text) + [""]:
        if line == "":
            if data:
                try:
                    out.append(json.loads("\n".join(data)))
                except ValueError:
                    pass
            data = []
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    return out


async def sse_events(response: Any) -> AsyncIterator[Any]:
    """The JSON data of each event of a streamed SSE answer, as soon as the blank line that ends it arrived (what is
    left at the end of the body counts as a last event)."""
    buf = ""
    async for chunk in response.aiter_text():
        buf += chunk
        cut = max(buf.rfind("\n\n"), buf.rfind("\r\n\r\n"), buf.rfind("\r\r"))
        if cut < 0:
            continue
        done, buf = buf[: cut + 2], buf[cut + 2:]
        for event in parse_sse(done):
            yield event
    for event in parse_sse(buf):
        yield event


def is_response(msg: Any) -> bool:
    return isinstance(msg, dict) and ("result" in msg or "error" in msg) and "method" not in msg


@dataclass
class Reply:
    rid: Any = None  # the id of the request
    status: int | None = None
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # the JSON-RPC response to the request (by id; else the last response-shaped message)
    events: list[Any] = field(default_factory=list)  # every message of an SSE answer, up to the response
    text: str = ""  # the raw body of a non-JSON answer
    timed_out: bool = False

    @property
    def error(self) -> dict[str, Any] | None:
        err = self.body.get("error") if isinstance(self.body, dict) else None
        return err if isinstance(err, dict) else None

    @property
    def result(self) -> Any:
        return self.body.get("result") if isinstance(self.body, dict) else None

    @property
    def notifications(self) -> list[dict[str, Any]]:
        return [e for e in self.events if isinstance(e, dict) and "method" in e and "id" not in e]

    def describe(self) -> str:
        return f"HTTP {self.status} {self.content_type or '-'}: {short(self.body if self.body is not None else self.text)}"


async def post(
    http: httpx2.AsyncClient,
    url: str,
    method: str,
    params: dict[str, Any] | None,
    *,
    rid: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = WAIT,
) -> Reply:
    """One POST of one request (params as given: no `_meta` is added here; `headers` is the whole header set, by
    default `std_headers(method, params)`). An SSE answer is read only until the response with the request's id
    arrives; the whole exchange is bounded by `timeout` (then `timed_out` is set, nothing is raised)."""
    payload = rpc_request(method, params, rid)
    reply = Reply(rid=payload["id"])
    headers = std_headers(method, params) if headers is None else headers
    with anyio.move_on_after(timeout) as scope:
        async with http.stream("POST", url, headers=headers, content=json.dumps(payload).encode()) as r:
            reply.status = r.status_code
            reply.content_type = r.headers.get("content-type", "")
            reply.headers = {k.lower(): v for k, v in r.headers.items()}
            if "text/event-stream" in reply.content_type:
                async for event in sse_events(r):
                    reply.events.append(event)
                    if is_response(event) and event.get("id") == reply.rid:
                        break
            else:
                raw = (await r.aread()).decode("utf-8", "replace")
                try:
                    reply.body = json.loads(raw) if raw else None
                except ValueError:
                    reply.text = raw
    reply.timed_out = scope.cancelled_caught
    if reply.events:
        matched = [e for e in reply.events if is_response(e) and e.get("id") == reply.rid]
        shaped = [e for e in reply.events if is_response(e)]
        reply.body = matched[0] if matched else (shaped[-1] if shaped else None)
    return reply


class RpcError(Exception):
    """A JSON-RPC error answered to a request, as the harness's connection raises it."""

    def __init__(self, method: str, reply: Reply) -> None:
        error = reply.error or {}
        super().__init__(f"{method}: JSON-RPC error {error.get('code')}: {error.get('message')} ({reply.describe()})")
        self.code = error.get("code")
        self.data = error.get("data")
        self.status = reply.status
        self.reply = reply


def result_of(method: str, reply: Reply) -> dict[str, Any]:
    """The result of the harness's `conn.request`: a JSON-RPC error (with an integer code) is raised as RpcError,
    anything else without a result object is an AssertionError."""
    if reply.error is not None and isinstance(reply.error.get("code"), int):
        raise RpcError(method, reply)
    assert isinstance(reply.result, dict), f"{method}: expected a JSON-RPC result, got {reply.describe()}" + (
        " (timed out)" if reply.timed_out else ""
    )
    return reply.result
