"""Conformance, protocol 2026-07-28: the core SERVER scenarios of the official MCP conformance suite.

One test per server scenario of the suite's 2026-07-28 requirement list (all but the `input-required-result-*` ones,
which live in test_conformance_2026_07_28_mrtr.py, and the tasks extension), plus the not-scored server scenarios
`json-schema-2020-12`, `http-header-validation` and `http-custom-header-server-validation`. Each test is named after
its scenario id and re-states, in our own code, what the scenario sends to the `mcp-conformance-server` at the
2026-07-28 stateless wire and what it checks.

The wire of the harness, which these tests reproduce (conformance_wire.py builds it):

* no handshake; every request is an independent `POST` to the MCP endpoint (behind nginx it may reach any replica);
* headers `Content-Type: application/json`, `Accept: application/json, text/event-stream`,
  `MCP-Protocol-Version: 2026-07-28`, `Mcp-Method: <method>` and, for tools/call and prompts/get, `Mcp-Name:
  <params.name>` (resources/read: `<params.uri>`);
* `params._meta` carries `io.modelcontextprotocol/protocolVersion`, `.../clientInfo` and `.../clientCapabilities`
  (by default `{"sampling": {}, "elicitation": {}, "roots": {"listChanged": true}}`); keys a scenario supplies win;
* an answer is a JSON body or an SSE stream, from which the JSON-RPC response with the request's id is taken.

Each scenario produces checks; the suite counts a scenario as passed only when none of them is FAILURE or WARNING
(the suite summary and the expected-failures baseline both treat a WARNING as not passed), so both levels are asserted
here, and every check's outcome is listed in the failure message. A check the suite reports as SKIPPED (an optional
capability the server does not claim) is not asserted. What the server sends is schema-validated by the `conformance`
fixture's tee (interop_wire.py); requests sent over a raw socket (header-casing and whitespace cases, a forged Host)
are fed to the same recorder.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import anyio
import httpx2
import pytest

import conformance_wire as wire
from conformance_wire import (
    CC, CI, HARNESS_CLIENT_INFO, PV, VERSION, WAIT, Reply, RpcError, is_response, parse_sse, result_of, short,
    std_headers, with_meta,
)

pytestmark = pytest.mark.anyio

LOG_LEVEL = "io.modelcontextprotocol/logLevel"
SUB_ID = "io.modelcontextprotocol/subscriptionId"
SERVER_INFO = "io.modelcontextprotocol/serverInfo"


# --------------------------------------------------------------------------------------------------
# Checks, collected the way a scenario reports them
# --------------------------------------------------------------------------------------------------


class Checks:
    """The checks of one scenario: SUCCESS / FAILURE / WARNING / SKIPPED. `done()` fails the test on any FAILURE or
    WARNING and lists every check."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.items: list[tuple[str, str, str]] = []

    def add(self, check_id: str, ok: bool, message: str = "", *, should: bool = False) -> bool:
        status = "SUCCESS" if ok else ("WARNING" if should else "FAILURE")
        self.items.append((check_id, status, "" if ok else message))
        return ok

    def fail(self, check_id: str, message: str, *, should: bool = False) -> None:
        self.add(check_id, False, message, should=should)

    def skip(self, check_id: str, message: str) -> None:
        self.items.append((check_id, "SKIPPED", message))

    def status(self, check_id: str) -> list[str]:
        return [s for c, s, _ in self.items if c == check_id]

    def done(self) -> None:
        bad = [(c, s, m) for c, s, m in self.items if s in ("FAILURE", "WARNING")]
        listing = "\n".join(f"  [{s}] {c}" + (f": {m}" if m else "") for c, s, m in self.items)
        assert self.items, f"{self.scenario}: no checks ran"
        assert not bad, f"{self.scenario}: {len(bad)} check(s) not passed:\n{listing}"


def truthy(value: Any) -> bool:
    """JavaScript truthiness, which the scenarios' checks use: an empty object or array is true."""
    if isinstance(value, (dict, list)):
        return True
    return bool(value)


# --------------------------------------------------------------------------------------------------
# The harness's stateless wire (conformance_wire.py), as Node's fetch sends it
# --------------------------------------------------------------------------------------------------


# Headers Node's fetch (undici) adds to every request of the harness that goes through fetch.
FETCH_EXTRA = {"accept-language": "*", "sec-fetch-mode": "cors", "user-agent": "node"}


def fetch_headers(method: str, params: dict[str, Any] | None = None, overrides: dict[str, str] | None = None) -> dict[str, str]:
    return {**FETCH_EXTRA, **std_headers(method, params, overrides)}


async def post(http: httpx2.AsyncClient, url: str, method: str, params: dict[str, Any] | None, *,
               headers: dict[str, str] | None = None, **kw: Any) -> Reply:
    """`conformance_wire.post` as the harness sends it: fetch's headers, `headers` overriding the standard ones;
    params as given (no `_meta` is added here); `rid` and `timeout` as there."""
    return await wire.post(http, url, method, params, headers=fetch_headers(method, params, headers), **kw)


async def request(http: httpx2.AsyncClient, url: str, method: str, params: dict[str, Any] | None = None) -> tuple[dict[str, Any], Reply]:
    """The harness's `conn.request`: the `_meta` of the harness added, the result returned, a JSON-RPC error raised
    as RpcError, anything else (no result) an AssertionError."""
    reply = await post(http, url, method, with_meta(params))
    return result_of(method, reply), reply


async def listen_frames(
    http: httpx2.AsyncClient,
    url: str,
    method: str,
    params: dict[str, Any],
    *,
    max_frames: int,
    timeout: float,
    on_first_frame: Callable[[], Awaitable[Any]] | None = None,
) -> list[Any]:
    """The scenario's stream reader: every line of the answer that is JSON (after an optional `data:`) is a frame;
    reading stops after `max_frames` frames, at the end of the body, or after `timeout` (the normal end of a listen
    stream). `on_first_frame` runs once, after the first frame arrived, while the stream stays open."""
    frames: list[Any] = []
    fired = False
    payload = {"jsonrpc": "2.0", "id": int(time.time() * 1000), "method": method, "params": params}

    def take(line: str) -> None:
        line = line.strip()
        if not line:
            return
        text = re.sub(r"^data:\s*", "", line) if line.startswith("data:") else line
        try:
            frames.append(json.loads(text))
        except ValueError:
            pass

    with anyio.move_on_after(timeout):
        try:
            async with http.stream(
                "POST", url, headers=fetch_headers(method, params), content=json.dumps(payload).encode()
            ) as r:
                buf = ""
                async for chunk in r.aiter_text():
                    buf += chunk
                    lines = re.split(r"\r?\n", buf)
                    buf = lines.pop()
                    for line in lines:
                        take(line)
                    if frames and on_first_frame is not None and not fired:
                        fired = True
                        try:
                            await on_first_frame()
                        except Exception:  # the trigger's own outcome is judged by the caller
                            pass
                    if len(frames) >= max_frames:
                        break
                else:
                    take(buf)
        except httpx2.HTTPError:
            pass
    return frames


# --------------------------------------------------------------------------------------------------
# Raw HTTP/1.1 over a socket, for what httpx refuses to send (whitespace around a header value, exact header-name
# casing, a forged Host); the exchange is handed to the validating recorder like any other.
# --------------------------------------------------------------------------------------------------


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]
    raw: bytes
    messages: list[Any]

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def body(self) -> Any:
        """The JSON body, or for SSE the last response-shaped event; else the text."""
        if "text/event-stream" in self.content_type:
            shaped = [m for m in self.messages if is_response(m)]
            return shaped[-1] if shaped else self.raw.decode("utf-8", "replace")
        if "application/json" in self.content_type and self.messages:
            return self.messages[0]
        return self.raw.decode("utf-8", "replace")

    @property
    def error(self) -> dict[str, Any] | None:
        body = self.body
        err = body.get("error") if isinstance(body, dict) else None
        return err if isinstance(err, dict) else None

    def describe(self) -> str:
        return f"HTTP {self.status} {self.content_type or '-'}: {short(self.body)}"


def _dechunk(data: bytes) -> tuple[bytes, bool]:
    out = b""
    while True:
        line_end = data.find(b"\r\n")
        if line_end < 0:
            return out, False
        try:
            size = int(data[:line_end].split(b";")[0].strip() or b"0", 16)
        except ValueError:
            return out, False
        if size == 0:
            return out, True
        chunk = data[line_end + 2: line_end + 2 + size]
        if len(chunk) < size:
            return out + chunk, False
        out += chunk
        data = data[line_end + 2 + size + 2:]


async def raw_post(conformance, headers: list[tuple[str, str]], body: Any, *, url: str | None = None, timeout: float = WAIT) -> RawReply:
    """POSTs `body` (JSON) with exactly these header lines (plus Host unless given, Content-Length, Connection:
    close), reads the answer to its end (bounded by `timeout`) and records the exchange for schema validation."""
    url = url or conformance.url
    parts = urlsplit(url)
    content = json.dumps(body).encode()
    lines = [f"POST {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1"]
    sent: list[tuple[str, str]] = []
    if not any(k.lower() == "host" for k, _ in headers):
        sent.append(("Host", parts.netloc))
    sent += list(headers)
    sent += [("Content-Length", str(len(content))), ("Connection", "close")]
    lines += [f"{k}: {v}" for k, v in sent]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content

    buf = b""
    with anyio.move_on_after(timeout):
        stream = await anyio.connect_tcp(parts.hostname or "127.0.0.1", parts.port or 80)
        async with stream:
            await stream.send(data)
            while True:
                try:
                    buf += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                    break
                head_end = buf.find(b"\r\n\r\n")
                if head_end >= 0:
                    head = buf[:head_end].decode("latin-1").lower()
                    rest = buf[head_end + 4:]
                    m = re.search(r"\ncontent-length:\s*(\d+)", head)
                    if m and len(rest) >= int(m.group(1)):
                        break
                    if "transfer-encoding: chunked" in head and _dechunk(rest)[1]:
                        break
    head_end = buf.find(b"\r\n\r\n")
    assert head_end >= 0, f"no HTTP answer within {timeout}s to a raw POST ({buf[:200]!r})"
    head_lines = buf[:head_end].decode("latin-1").split("\r\n")
    status = int(head_lines[0].split()[1])
    resp_headers: dict[str, str] = {}
    for line in head_lines[1:]:
        k, _, v = line.partition(":")
        resp_headers[k.strip().lower()] = v.strip()
    rest = buf[head_end + 4:]
    if "chunked" in resp_headers.get("transfer-encoding", "").lower():
        rest = _dechunk(rest)[0]
    elif resp_headers.get("content-length", "").isdigit():
        rest = rest[: int(resp_headers["content-length"])]

    # the recorder: judged like every exchange of the tee
    wire = conformance.wire
    req = httpx2.Request("POST", url, headers=sent, content=content)
    ex = wire.new_exchange(req, body)
    wire.response_started(ex, SimpleNamespace(status_code=status, headers=httpx2.Headers(resp_headers)))
    ctype = resp_headers.get("content-type", "")
    messages: list[Any] = []
    if "text/event-stream" in ctype:
        messages = parse_sse(rest.decode("utf-8", "replace"))
        for m in messages:
            wire.record(ex, m, "sse")
    elif "application/json" in ctype and rest:
        wire.record_raw(ex, rest, "json")
        try:
            messages = [json.loads(rest)]
        except ValueError:
            messages = []
    ex.complete = True
    return RawReply(status, resp_headers, rest, messages)


def content_items(result: dict[str, Any]) -> list[dict[str, Any]]:
    content = result.get("content")
    return [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []


# --------------------------------------------------------------------------------------------------
# server-stateless (SEP-2575)
# --------------------------------------------------------------------------------------------------


@pytest.mark.scenario("server-stateless", version=VERSION, scored=True)
async def test_server_stateless(conformance):
    ck = Checks("server-stateless")
    url = conformance.url
    valid_meta = {PV: VERSION, CI: {"name": "conformance-client", "version": "1.0.0"}, CC: {}}
    errors_seen = 0
    id_problems: list[str] = []

    async with conformance.http() as http:

        async def send(method: str, params: Any = None, headers: dict[str, str] | None = None, rid: Any = 1) -> Reply:
            nonlocal errors_seen
            reply = await post(http, url, method, params, rid=rid, headers=headers)
            if reply.error is not None:
                errors_seen += 1
            return reply

        def check_error_id(reply: Reply, rid: Any) -> None:
            if reply.error is not None and reply.body.get("id") != rid:
                id_problems.append(f"error response to id {rid!r} carries id {reply.body.get('id')!r}")

        # 1. per-request _meta: a missing required field is -32602 with HTTP 400; clientInfo is optional
        cases = [
            ("missing-meta", {}, 101),
            ("missing-protocol-version", {"_meta": {CI: valid_meta[CI], CC: valid_meta[CC]}}, 102),
            ("missing-client-capabilities", {"_meta": {PV: VERSION, CI: valid_meta[CI]}}, 104),
        ]
        for slug, params, rid in cases:
            reply = await send("server/discover", params, rid=rid)
            check_error_id(reply, rid)
            code = reply.error.get("code") if reply.error else None
            ck.add(f"sep-2575-request-meta-invalid-{slug}", code == -32602, f"expected error -32602, got {reply.describe()}")
            ck.add("sep-2575-http-server-meta-invalid-400", reply.status == 400, f"{slug}: expected HTTP 400, got {reply.describe()}")

        reply = await send("server/discover", {"_meta": {PV: VERSION, CC: {}}}, rid=105)
        ok = reply.error is None and reply.status == 200 and reply.result is not None
        ck.add("sep-2575-request-meta-client-info-optional", ok, f"a request without clientInfo must be served: {reply.describe()}")

        # (beyond the scenario, which probes server/discover only: basic/index.mdx makes the required fields a MUST on
        # every request, so the same three malformed _meta go to the other methods, and a request without params)
        others = [
            ("tools/list", {}),
            ("tools/call", {"name": "test_simple_text", "arguments": {}}),
            ("resources/read", {"uri": "test://static-text"}),
            ("prompts/get", {"name": "test_simple_prompt"}),
        ]
        for method, base in others:
            for slug, params, _ in cases:
                rid = f"meta-{method}-{slug}"
                reply = await send(method, {**base, **params}, rid=rid)
                ck.add(f"extra-request-meta-invalid-{slug}",
                       reply.status == 400 and (reply.error or {}).get("code") == -32602 and reply.body.get("id") == rid,
                       f"{method} with {slug}: expected HTTP 400 with -32602 and id {rid!r}, got {reply.describe()}")
        reply = await send("tools/list", None, rid="meta-no-params")
        ck.add("extra-request-meta-invalid-no-params",
               reply.status == 400 and (reply.error or {}).get("code") == -32602,
               f"tools/list without params (so without _meta): expected HTTP 400 with -32602, got {reply.describe()}")

        # 2. discovery and capabilities
        reply = await send("server/discover", {"_meta": valid_meta}, rid=201)
        discover = reply.result if isinstance(reply.result, dict) else None
        supported = discover.get("supportedVersions") if discover else None
        supported = supported if isinstance(supported, list) else []
        caps = discover.get("capabilities") if discover and isinstance(discover.get("capabilities"), dict) else {}
        ck.add(
            "sep-2575-server-implements-discover",
            bool(discover and truthy(discover.get("supportedVersions")) and truthy(discover.get("capabilities"))),
            f"server/discover must answer supportedVersions and capabilities: {reply.describe()}",
        )
        info = ((discover or {}).get("_meta") or {}).get(SERVER_INFO) or {}
        ck.add(
            "sep-2575-server-identifies-in-result-meta",
            bool(isinstance(info, dict) and info.get("name") and info.get("version")),
            f"discover result _meta lacks {SERVER_INFO} with name and version: {short(discover)}",
            should=True,
        )
        prompts = await send("prompts/list", {"_meta": valid_meta}, rid=203)
        prompts_exist = truthy((prompts.result or {}).get("prompts")) or (prompts.error or {}).get("code") != -32601
        ck.add(
            "sep-2575-server-declares-prompts-in-discover",
            not (prompts_exist and not truthy(caps.get("prompts"))),
            f"prompts/list is served ({prompts.describe()}) but discover declares no prompts capability: {short(caps)}",
        )
        tools = await send("tools/list", {"_meta": valid_meta}, rid=202)
        tool_list = (tools.result or {}).get("tools")
        listed = [t.get("name") for t in tool_list if isinstance(t, dict)] if isinstance(tool_list, list) else []
        if truthy(caps.get("tools")):
            ck.add("sep-2575-discover-capabilities-match-handlers", isinstance(tool_list, list),
                   f"tools capability declared but tools/list failed: {tools.describe()}")
        else:
            ck.add("sep-2575-discover-capabilities-match-handlers", (tools.error or {}).get("code") == -32601,
                   f"no tools capability declared but tools/list did not answer -32601: {tools.describe()}")

        # 3. version negotiation and the version header
        bad = "v999.0.0"
        reply = await send("server/discover", {"_meta": {**valid_meta, PV: bad}}, {"MCP-Protocol-Version": bad}, rid=301)
        check_error_id(reply, 301)
        data = (reply.error or {}).get("data") or {}
        err_supported = data.get("supported") if isinstance(data, dict) else None
        ok = isinstance(err_supported, list) and len(err_supported) > 0 and all(v in supported for v in err_supported)
        if not ok:
            ck.fail("sep-2575-server-unsupported-version-error",
                    f"error.data.supported must be a non-empty subset of discover's supportedVersions {supported}: {reply.describe()}")
        else:
            ck.add("sep-2575-server-unsupported-version-error", data.get("requested") == bad,
                   f"error.data.requested must echo {bad!r}: {reply.describe()}")
        ck.add("sep-2575-http-server-unsupported-version-400", reply.status == 400, f"expected HTTP 400: {reply.describe()}")

        reply = await send("server/discover", {"_meta": {**valid_meta, PV: bad}}, {"MCP-Protocol-Version": VERSION}, rid=302)
        ck.add("sep-2575-http-server-header-mismatch-400",
               reply.status == 400 and (reply.error or {}).get("code") == -32020,
               f"header {VERSION} vs _meta {bad}: expected HTTP 400 with -32020, got {reply.describe()}")

        # 4. a capability the client did not declare
        reply = await send("tools/call", {"name": "test_missing_capability", "arguments": {}, "_meta": valid_meta}, rid=401)
        check_error_id(reply, 401)
        code = (reply.error or {}).get("code")
        if code == -32021:
            req_caps = ((reply.error or {}).get("data") or {}).get("requiredCapabilities")
            ck.add("sep-2575-server-rejects-undeclared-capability",
                   isinstance(req_caps, dict) and isinstance(req_caps.get("sampling"), dict),
                   f"error.data.requiredCapabilities must be a ClientCapabilities object naming sampling: {reply.describe()}")
            ck.add("sep-2575-missing-capability-http-400", reply.status == 400, f"-32021 must come with HTTP 400: {reply.describe()}")
        else:
            if reply.result is not None:
                why = "test_missing_capability ran although the client declared no sampling capability"
            elif reply.error is not None and "test_missing_capability" in listed:
                why = f"expected -32021, got error {code}"
            else:
                why = "not testable: tools/list does not list test_missing_capability and the call did not exercise it"
            ck.fail("sep-2575-server-rejects-undeclared-capability", f"{why}: {reply.describe()}")
            ck.fail("sep-2575-missing-capability-http-400", f"no -32021 to judge ({why})")

        # 5. removed and unknown methods: 404 with -32601
        for method in ("initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"):
            reply = await send(method, {"_meta": valid_meta}, rid=500)
            slug = method.lower().replace("/", "-", 1)
            ck.add(f"sep-2575-http-server-method-not-found-404-{slug}",
                   reply.status == 404 and (reply.error or {}).get("code") == -32601,
                   f"removed method {method}: expected HTTP 404 with -32601, got {reply.describe()}")
        reply = await send("unknown/method", {"_meta": valid_meta}, rid=601)
        ck.add("sep-2575-http-server-method-not-found-404",
               reply.status == 404 and (reply.error or {}).get("code") == -32601,
               f"unknown method: expected HTTP 404 with -32601, got {reply.describe()}")

        frames = await listen_frames(
            http, url, "tools/call",
            {"name": "test_streaming_elicitation", "arguments": {}, "_meta": {**valid_meta, CC: {"elicitation": {}}}},
            max_frames=3, timeout=0.6,
        )
        if not frames:
            ck.fail("sep-2575-http-server-no-independent-requests-on-stream", "no frame from tools/call test_streaming_elicitation")
        elif all(isinstance(f, dict) and "error" in f for f in frames):
            ck.fail("sep-2575-http-server-no-independent-requests-on-stream",
                    f"not testable: test_streaming_elicitation was rejected: {short(frames[0])}")
        else:
            requests = [f for f in frames if isinstance(f, dict) and isinstance(f.get("method"), str)
                        and not f["method"].startswith("notifications/")]
            ck.add("sep-2575-http-server-no-independent-requests-on-stream", not requests,
                   f"server sent independent requests on a response stream: {short(requests)}")

        frames = await listen_frames(
            http, url, "tools/call", {"name": "test_logging_tool", "arguments": {}, "_meta": valid_meta},
            max_frames=3, timeout=0.5,
        )
        if not frames:
            ck.fail("sep-2575-server-no-log-without-loglevel", "no frame from tools/call test_logging_tool")
        elif all(isinstance(f, dict) and "error" in f for f in frames):
            ck.fail("sep-2575-server-no-log-without-loglevel", f"not testable: test_logging_tool was rejected: {short(frames[0])}")
        else:
            logs = [f for f in frames if isinstance(f, dict) and f.get("method") == "notifications/message"]
            ck.add("sep-2575-server-no-log-without-loglevel", not logs,
                   f"notifications/message for a request without {LOG_LEVEL}: {short(logs)}")

        # 6. subscriptions/listen
        advertises = bool(
            (caps.get("tools") or {}).get("listChanged") or (caps.get("prompts") or {}).get("listChanged")
            or (caps.get("resources") or {}).get("listChanged") or (caps.get("resources") or {}).get("subscribe")
        )
        discover_seen = discover is not None

        def rejected(check_id: str, frames: list[Any]) -> bool:
            first = frames[0] if frames else None
            if not (isinstance(first, dict) and (first.get("error") or {}).get("code") == -32601):
                return False
            if discover_seen and not advertises:
                ck.skip(check_id, "no subscription-delivered capability advertised")
            else:
                ck.fail(check_id, "not testable: listChanged/subscribe advertised but subscriptions/listen answers -32601")
            return True

        async def trigger(name: str) -> Reply:
            return await post(http, url, "tools/call", {"name": name, "arguments": {}, "_meta": valid_meta})

        stream = await listen_frames(
            http, url, "subscriptions/listen", {"_meta": valid_meta, "notifications": {"toolsListChanged": True}},
            max_frames=2, timeout=0.8, on_first_frame=lambda: trigger("test_trigger_tool_change"),
        )
        if not rejected("sep-2575-server-sends-subscription-ack", stream):
            first = stream[0] if stream else None
            ck.add("sep-2575-server-sends-subscription-ack",
                   isinstance(first, dict) and first.get("method") == "notifications/subscriptions/acknowledged",
                   f"first frame of a listen stream must be notifications/subscriptions/acknowledged: {short(stream)}")
        if not rejected("sep-2575-server-tags-subscription-id", stream):
            notes = [f for f in stream if isinstance(f, dict) and str(f.get("method", "")).startswith("notifications/")]
            untagged = [f for f in notes if not (((f.get("params") or {}).get("_meta") or {}).get(SUB_ID))]
            ck.add("sep-2575-server-tags-subscription-id", bool(notes) and not untagged,
                   f"listen notifications must carry _meta {SUB_ID}: frames {short(stream)}")

        narrow = await listen_frames(
            http, url, "subscriptions/listen", {"_meta": valid_meta, "notifications": {"promptsListChanged": True}},
            max_frames=3, timeout=1.5, on_first_frame=lambda: trigger("test_trigger_tool_change"),
        )
        if not rejected("sep-2575-server-honors-notification-filter", narrow):
            leaked = [f for f in narrow if isinstance(f, dict) and f.get("method") == "notifications/tools/list_changed"]
            ck.add("sep-2575-server-honors-notification-filter", bool(narrow) and not leaked,
                   f"a prompts-only listen stream got {short(leaked or 'no frame at all')}")

        # 7. list changes delivered to open listen streams (SHOULD)
        for kind, flag, hook, note in (
            ("prompts", "promptsListChanged", "test_trigger_prompt_change", "notifications/prompts/list_changed"),
            ("tools", "toolsListChanged", "test_trigger_tool_change", "notifications/tools/list_changed"),
        ):
            check_id = f"sep-2575-server-sends-{kind}-list-changed-on-subscription"
            if not (caps.get(kind) or {}).get("listChanged"):
                ck.skip(check_id, f"{kind}.listChanged not declared")
                continue
            fired: list[Reply] = []

            async def fire(hook: str = hook) -> None:
                fired.append(await trigger(hook))

            frames = await listen_frames(
                http, url, "subscriptions/listen", {"_meta": valid_meta, "notifications": {flag: True}},
                max_frames=2, timeout=1.5, on_first_frame=fire,
            )
            if fired and (fired[0].error or {}).get("code") == -32601:
                ck.fail(check_id, f"not testable: {kind}.listChanged declared but no {hook} hook", should=True)
            elif not frames:
                ck.fail(check_id, "no frame from the listen stream", should=True)
            else:
                ck.add(check_id, any(isinstance(f, dict) and f.get("method") == note for f in frames),
                       f"{hook} ran ({fired[0].describe() if fired else 'not fired'}) but no {note} arrived: {short(frames)}",
                       should=True)

    ck.add("sep-2575-http-server-error-jsonrpc-id", not id_problems and errors_seen > 0,
           "; ".join(id_problems) or "no error response was observed at all")
    ck.done()


# --------------------------------------------------------------------------------------------------
# completion, tools
# --------------------------------------------------------------------------------------------------


@pytest.mark.scenario("completion-complete", version=VERSION, scored=True)
async def test_completion_complete(conformance):
    async with conformance.http() as http:
        result, reply = await request(http, conformance.url, "completion/complete", {
            "ref": {"type": "ref/prompt", "name": "test_prompt_with_arguments"},
            "argument": {"name": "arg1", "value": "test"},
        })
    completion = result.get("completion")
    assert isinstance(completion, dict), f"missing completion: {reply.describe()}"
    assert isinstance(completion.get("values"), list), f"completion.values is not an array: {reply.describe()}"


TOOL_NAME = re.compile(r"^[A-Za-z0-9_./-]+$")


@pytest.mark.scenario("tools-list", version=VERSION, scored=True)
async def test_tools_list(conformance):
    async with conformance.http() as http:
        result, reply = await request(http, conformance.url, "tools/list")
    tools = result.get("tools")
    assert isinstance(tools, list), f"missing tools array: {reply.describe()}"
    problems = []
    for i, tool in enumerate(tools):
        name = tool.get("name") if isinstance(tool, dict) else None
        if not name:
            problems.append(f"tool {i}: missing name")
        if not (isinstance(tool, dict) and tool.get("description")):
            problems.append(f"tool {i} ({name}): missing description")
        if not (isinstance(tool, dict) and truthy(tool.get("inputSchema"))):
            problems.append(f"tool {i} ({name}): missing inputSchema")
        if not isinstance(name, str) or not (1 <= len(name) <= 64) or not TOOL_NAME.match(name):
            problems.append(f"tool {i}: name {name!r} is not 1-64 characters of [A-Za-z0-9_./-]")
    assert not problems, "\n".join(problems)


async def call_tool(conformance, params: dict[str, Any]) -> tuple[dict[str, Any], Reply]:
    async with conformance.http() as http:
        return await request(http, conformance.url, "tools/call", params)


@pytest.mark.scenario("tools-call-simple-text", version=VERSION, scored=True)
async def test_tools_call_simple_text(conformance):
    result, reply = await call_tool(conformance, {"name": "test_simple_text"})  # no arguments, as the scenario sends it
    content = result.get("content")
    assert isinstance(content, list) and content, f"content must be a non-empty array: {reply.describe()}"
    text = next((c for c in content_items(result) if c.get("type") == "text"), None)
    assert text is not None and text.get("text"), f"no text content with text: {reply.describe()}"


@pytest.mark.scenario("tools-call-image", version=VERSION, scored=True)
async def test_tools_call_image(conformance):
    result, reply = await call_tool(conformance, {"name": "test_image_content", "arguments": {}})
    image = next((c for c in content_items(result) if c.get("type") == "image"), None)
    assert image is not None, f"no image content: {reply.describe()}"
    assert image.get("data"), f"image content without data: {reply.describe()}"
    assert image.get("mimeType"), f"image content without mimeType: {reply.describe()}"


@pytest.mark.scenario("tools-call-audio", version=VERSION, scored=True)
async def test_tools_call_audio(conformance):
    result, reply = await call_tool(conformance, {"name": "test_audio_content", "arguments": {}})
    content = result.get("content")
    assert isinstance(content, list) and content, f"content must be a non-empty array: {reply.describe()}"
    audio = next((c for c in content_items(result) if c.get("type") == "audio"), None)
    assert audio is not None, f"no audio content: {reply.describe()}"
    assert audio.get("data"), f"audio content without data: {reply.describe()}"
    assert audio.get("mimeType") == "audio/wav", f"audio mimeType must be 'audio/wav': {reply.describe()}"


@pytest.mark.scenario("tools-call-embedded-resource", version=VERSION, scored=True)
async def test_tools_call_embedded_resource(conformance):
    result, reply = await call_tool(conformance, {"name": "test_embedded_resource", "arguments": {}})
    content = result.get("content")
    assert isinstance(content, list) and content, f"content must be a non-empty array: {reply.describe()}"
    item = next((c for c in content_items(result) if c.get("type") == "resource"), None)
    assert item is not None, f"no resource content: {reply.describe()}"
    resource = item.get("resource")
    assert truthy(resource), f"resource content without resource: {reply.describe()}"
    assert isinstance(resource, dict), f"resource content whose resource is not an object: {reply.describe()}"
    assert resource.get("uri"), f"embedded resource without uri: {reply.describe()}"
    assert resource.get("mimeType"), f"embedded resource without mimeType: {reply.describe()}"
    assert resource.get("text") or resource.get("blob"), f"embedded resource without text or blob: {reply.describe()}"


@pytest.mark.scenario("tools-call-mixed-content", version=VERSION, scored=True)
async def test_tools_call_mixed_content(conformance):
    result, reply = await call_tool(conformance, {"name": "test_multiple_content_types", "arguments": {}})
    items = content_items(result)
    assert isinstance(result.get("content"), list) and len(result["content"]) >= 2, f"expected several content items: {reply.describe()}"
    kinds = {c.get("type") for c in items}
    missing = {"text", "image", "resource"} - kinds
    assert not missing, f"missing content type(s) {sorted(missing)}: {reply.describe()}"


@pytest.mark.scenario("tools-call-error", version=VERSION, scored=True)
async def test_tools_call_error(conformance):
    result, reply = await call_tool(conformance, {"name": "test_error_handling", "arguments": {}})
    assert result.get("isError") is True, f"the tool error must be a result with isError: true: {reply.describe()}"
    content = result.get("content")
    assert isinstance(content, list) and content and isinstance(content[0], dict) and content[0].get("text"), (
        f"the error result must carry a message in content[0].text: {reply.describe()}"
    )


@pytest.mark.scenario("tools-call-with-progress", version=VERSION, scored=True)
async def test_tools_call_with_progress(conformance):
    token = "progress-test-1"
    result, reply = await call_tool(
        conformance, {"name": "test_tool_with_progress", "arguments": {}, "_meta": {"progressToken": token}}
    )
    updates = [
        n.get("params") or {} for n in reply.notifications
        if n.get("method") == "notifications/progress" and (n.get("params") or {}).get("progressToken") == token
    ]
    assert len(updates) >= 3, f"expected at least 3 progress notifications with token {token!r}, got {len(updates)}: {short(reply.events)}"
    values = [u.get("progress") for u in updates[:3]]
    assert all(isinstance(v, (int, float)) for v in values) and values[0] <= values[1] <= values[2], (
        f"progress values must increase: {values}"
    )


# --------------------------------------------------------------------------------------------------
# Concurrent POST streams (SEP-1699), at the stateless wire
# --------------------------------------------------------------------------------------------------


@pytest.mark.scenario("server-sse-multiple-streams", version=VERSION, scored=True)
async def test_server_sse_multiple_streams(conformance):
    headers = fetch_headers("tools/list", None, {"Accept": "text/event-stream, application/json"})
    params = {"_meta": {PV: VERSION, CI: HARNESS_CLIENT_INFO, CC: {}}}
    outcome: dict[int, dict[str, Any]] = {}

    async with conformance.http() as http:

        async def one(i: int) -> None:
            rid = 1000 + i
            body = json.dumps(wire.rpc_request("tools/list", params, rid)).encode()
            got: dict[str, Any] = {"status": None, "type": None, "response": None, "error": None, "events": 0}
            outcome[i] = got
            try:
                with anyio.move_on_after(WAIT):
                    async with http.stream("POST", conformance.url, headers=headers, content=body) as r:
                        got["status"] = r.status_code
                        ctype = r.headers.get("content-type", "")
                        if "text/event-stream" in ctype:
                            got["type"] = "sse"
                            buf = ""
                            # the scenario waits up to 2 s for one event of each stream
                            with anyio.move_on_after(2.0):
                                async for chunk in r.aiter_text():
                                    buf += chunk.replace("\r\n", "\n").replace("\r", "\n")
                                    events = parse_sse(buf[: max(buf.rfind("\n\n"), 0)])
                                    got["events"] = len(events)
                                    match = [e for e in events if is_response(e) and e.get("id") == rid]
                                    if match:
                                        got["response"] = match[0]
                                        break
                        else:
                            got["type"] = "json"
                            raw = await r.aread()
                            try:
                                got["response"] = json.loads(raw)
                            except ValueError:
                                got["error"] = f"not JSON: {raw[:200]!r}"
            except httpx2.HTTPError as exc:
                got["error"] = repr(exc)

        with anyio.fail_after(WAIT + 2):
            async with anyio.create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(one, i)

    ck = Checks("server-sse-multiple-streams")
    statuses = [outcome[i]["status"] for i in range(3)]
    ck.add("server-accepts-multiple-post-streams", all(s is not None and 200 <= s < 300 for s in statuses),
           f"all three concurrent POSTs must be accepted: statuses {statuses}")
    sse = [outcome[i] for i in range(3) if outcome[i]["type"] == "sse"]
    broken = [o for o in sse if o["error"]]
    if sse:
        ck.add("server-sse-streams-functional", not broken, f"SSE streams failed: {short(broken)}",
               should=len(broken) < len(sse))
    # every request gets its own answer (the scenario only reads one event of each stream; a server that answers all
    # three correctly is what it expects)
    for i in range(3):
        resp = outcome[i]["response"]
        ck.add(f"response-{1000 + i}", isinstance(resp, dict) and resp.get("id") == 1000 + i
               and isinstance((resp.get("result") or {}).get("tools"), list),
               f"request {1000 + i}: no tools/list result with its id: {short(outcome[i])}")
    ck.done()


# --------------------------------------------------------------------------------------------------
# resources
# --------------------------------------------------------------------------------------------------


@pytest.mark.scenario("resources-list", version=VERSION, scored=True)
async def test_resources_list(conformance):
    async with conformance.http() as http:
        result, reply = await request(http, conformance.url, "resources/list")
    resources = result.get("resources")
    assert isinstance(resources, list), f"missing resources array: {reply.describe()}"
    problems = []
    for i, res in enumerate(resources):
        if not (isinstance(res, dict) and res.get("uri")):
            problems.append(f"resource {i}: missing uri")
        if not (isinstance(res, dict) and res.get("name")):
            problems.append(f"resource {i}: missing name")
    assert not problems, "\n".join(problems)


async def read_resource(conformance, uri: str) -> tuple[dict[str, Any], Reply]:
    async with conformance.http() as http:
        return await request(http, conformance.url, "resources/read", {"uri": uri})


@pytest.mark.scenario("resources-read-text", version=VERSION, scored=True)
async def test_resources_read_text(conformance):
    result, reply = await read_resource(conformance, "test://static-text")
    contents = result.get("contents")
    assert isinstance(contents, list) and contents, f"contents must be a non-empty array: {reply.describe()}"
    first = contents[0]
    assert first.get("uri"), f"content without uri: {reply.describe()}"
    assert first.get("mimeType"), f"content without mimeType: {reply.describe()}"
    assert first.get("text"), f"content without text: {reply.describe()}"


@pytest.mark.scenario("resources-read-binary", version=VERSION, scored=True)
async def test_resources_read_binary(conformance):
    result, reply = await read_resource(conformance, "test://static-binary")
    contents = result.get("contents")
    assert isinstance(contents, list) and contents, f"contents must be a non-empty array: {reply.describe()}"
    first = contents[0]
    assert first.get("uri"), f"content without uri: {reply.describe()}"
    assert first.get("mimeType"), f"content without mimeType: {reply.describe()}"
    assert first.get("blob"), f"content without blob: {reply.describe()}"
    base64.b64decode(first["blob"], validate=True)  # the schema says base64


@pytest.mark.scenario("resources-templates-read", version=VERSION, scored=True)
async def test_resources_templates_read(conformance):
    result, reply = await read_resource(conformance, "test://template/123/data")
    contents = result.get("contents")
    assert isinstance(contents, list) and contents, f"contents must be a non-empty array: {reply.describe()}"
    first = contents[0]
    assert first.get("uri"), f"content without uri: {reply.describe()}"
    assert "text" in first or "blob" in first, f"content without text or blob: {reply.describe()}"
    if "text" in first:
        assert "123" in str(first["text"]), f"the template parameter (123) is not reflected in the text: {reply.describe()}"


@pytest.mark.scenario("sep-2164-resource-not-found", version=VERSION, scored=True)
async def test_sep_2164_resource_not_found(conformance):
    uri = "test://nonexistent-resource-for-conformance-testing"
    ck = Checks("sep-2164-resource-not-found")
    async with conformance.http() as http:
        reply = await post(http, conformance.url, "resources/read", with_meta({"uri": uri}))
    err = reply.error if reply.error is not None and isinstance(reply.error.get("code"), int) else None
    result = reply.result if err is None and isinstance(reply.result, dict) else None
    empty = result is not None and not (result.get("contents") or [])
    ck.add("sep-2164-no-empty-contents", not empty, f"a result with an empty contents array: {reply.describe()}")
    if result is not None:
        ck.fail("sep-2164-error-code", f"a result instead of a JSON-RPC error: {reply.describe()}", should=True)
    elif err is None:
        ck.fail("sep-2164-error-code", f"expected a JSON-RPC error: {reply.describe()}", should=True)
    else:
        ck.add("sep-2164-error-code", err.get("code") == -32602, f"expected -32602, got {reply.describe()}", should=True)
    if err is None:
        ck.fail("sep-2164-data-uri", f"no JSON-RPC error, so no error data: {reply.describe()}")
    else:
        data = err.get("data")
        ck.add("sep-2164-data-uri", isinstance(data, dict) and data.get("uri") == uri,
               f"error.data.uri must be {uri!r}: {reply.describe()}", should=True)
    ck.done()


# --------------------------------------------------------------------------------------------------
# prompts
# --------------------------------------------------------------------------------------------------


@pytest.mark.scenario("prompts-list", version=VERSION, scored=True)
async def test_prompts_list(conformance):
    async with conformance.http() as http:
        result, reply = await request(http, conformance.url, "prompts/list")
    prompts = result.get("prompts")
    assert isinstance(prompts, list), f"missing prompts array: {reply.describe()}"
    problems = []
    for i, prompt in enumerate(prompts):
        if not (isinstance(prompt, dict) and prompt.get("name")):
            problems.append(f"prompt {i}: missing name")
        if not (isinstance(prompt, dict) and prompt.get("description")):
            problems.append(f"prompt {i} ({prompt.get('name') if isinstance(prompt, dict) else '?'}): missing description")
    assert not problems, "\n".join(problems)


async def get_prompt(conformance, params: dict[str, Any]) -> tuple[dict[str, Any], Reply]:
    async with conformance.http() as http:
        return await request(http, conformance.url, "prompts/get", params)


@pytest.mark.scenario("prompts-get-simple", version=VERSION, scored=True)
async def test_prompts_get_simple(conformance):
    result, reply = await get_prompt(conformance, {"name": "test_simple_prompt"})
    messages = result.get("messages")
    assert isinstance(messages, list) and messages, f"messages must be a non-empty array: {reply.describe()}"
    for i, message in enumerate(messages):
        assert isinstance(message, dict) and message.get("role"), f"message {i} without role: {reply.describe()}"
        assert truthy(message.get("content")), f"message {i} without content: {reply.describe()}"


@pytest.mark.scenario("prompts-get-with-args", version=VERSION, scored=True)
async def test_prompts_get_with_args(conformance):
    result, reply = await get_prompt(
        conformance, {"name": "test_prompt_with_arguments", "arguments": {"arg1": "testValue1", "arg2": "testValue2"}}
    )
    messages = result.get("messages")
    assert isinstance(messages, list) and messages, f"messages must be a non-empty array: {reply.describe()}"
    text = json.dumps(messages)
    assert "testValue1" in text, f"arg1 not substituted: {reply.describe()}"
    assert "testValue2" in text, f"arg2 not substituted: {reply.describe()}"


@pytest.mark.scenario("prompts-get-embedded-resource", version=VERSION, scored=True)
async def test_prompts_get_embedded_resource(conformance):
    result, reply = await get_prompt(
        conformance, {"name": "test_prompt_with_embedded_resource", "arguments": {"resourceUri": "test://example-resource"}}
    )
    messages = result.get("messages")
    assert isinstance(messages, list), f"missing messages array: {reply.describe()}"
    assert any(
        isinstance(m, dict) and isinstance(m.get("content"), dict)
        and (m["content"].get("type") == "resource" or "resource" in m["content"])
        for m in messages
    ), f"no embedded resource in the prompt: {reply.describe()}"


@pytest.mark.scenario("prompts-get-with-image", version=VERSION, scored=True)
async def test_prompts_get_with_image(conformance):
    result, reply = await get_prompt(conformance, {"name": "test_prompt_with_image"})
    messages = result.get("messages")
    assert isinstance(messages, list), f"missing messages array: {reply.describe()}"
    assert any(
        isinstance(m, dict) and isinstance(m.get("content"), dict) and m["content"].get("type") == "image"
        and m["content"].get("data") and m["content"].get("mimeType")
        for m in messages
    ), f"no image content (with data and mimeType) in the prompt: {reply.describe()}"


# --------------------------------------------------------------------------------------------------
# DNS rebinding protection
# --------------------------------------------------------------------------------------------------


@pytest.mark.scenario("dns-rebinding-protection", version=VERSION, scored=True)
async def test_dns_rebinding_protection(conformance):
    host = (urlsplit(conformance.url).hostname or "").lower()
    assert host in ("localhost", "127.0.0.1", "::1", "[::1]"), f"the scenario needs a localhost server URL, not {conformance.url}"
    valid_host = urlsplit(conformance.url).netloc
    probe = {
        "jsonrpc": "2.0", "id": 1, "method": "server/discover",
        "params": {"_meta": {PV: VERSION, CI: {"name": "conformance-dns-rebinding-test", "version": "1.0.0"}, CC: {}}},
    }

    def headers(value: str) -> list[tuple[str, str]]:
        std = std_headers("server/discover", probe["params"], {"Host": value, "Origin": f"http://{value}"})
        return list(std.items())

    ck = Checks("dns-rebinding-protection")
    evil = await raw_post(conformance, headers("evil.example.com"), probe)
    ck.add("localhost-host-rebinding-rejected", 400 <= evil.status < 500,
           f"Host/Origin evil.example.com: expected HTTP 4xx, got {evil.describe()}")
    # (the 2026-07-28 transport page: an invalid Origin MUST be answered 403 Forbidden; the scenario accepts any 4xx)
    good = await raw_post(conformance, headers(valid_host), probe)
    ck.add("localhost-host-valid-accepted", 200 <= good.status < 300,
           f"Host/Origin {valid_host}: expected HTTP 2xx, got {good.describe()}")
    ck.done()


# --------------------------------------------------------------------------------------------------
# caching (SEP-2549)
# --------------------------------------------------------------------------------------------------


@pytest.mark.scenario("caching", version=VERSION, scored=True)
async def test_caching(conformance):
    ck = Checks("caching")
    seen: list[tuple[str, dict[str, Any]]] = []

    async with conformance.http() as http:

        async def query(check_id: str, method: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
            try:
                result, _ = await request(http, conformance.url, method, params)
            except (RpcError, AssertionError) as exc:
                ck.fail(check_id, f"{method} failed: {exc}")
                return None
            seen.append((method, result))
            missing = [k for k in ("ttlMs", "cacheScope") if k not in result]
            ck.add(check_id, not missing, f"{method} result lacks {missing}")
            return result

        await query("sep-2549-tools-list-caching-hints", "tools/list")
        await query("sep-2549-prompts-list-caching-hints", "prompts/list")
        resources = await query("sep-2549-resources-list-caching-hints", "resources/list")
        await query("sep-2549-resources-templates-list-caching-hints", "resources/templates/list")
        listed = (resources or {}).get("resources") or []
        first_uri = listed[0].get("uri") if listed and isinstance(listed[0], dict) else None
        if first_uri:
            await query("sep-2549-resources-read-caching-hints", "resources/read", {"uri": first_uri})
        else:
            ck.skip("sep-2549-resources-read-caching-hints", "resources/list failed or listed nothing")

    ttl_problems = []
    with_ttl = [(m, r["ttlMs"]) for m, r in seen if "ttlMs" in r]
    if not with_ttl:
        ttl_problems.append("no endpoint returned ttlMs")
    for method, ttl in with_ttl:
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
            ttl_problems.append(f"{method}: ttlMs is {ttl!r}, not a number")
        elif ttl != int(ttl):
            ttl_problems.append(f"{method}: ttlMs {ttl} is not an integer")
        elif ttl < 0:
            ttl_problems.append(f"{method}: ttlMs {ttl} is negative")
    ck.add("sep-2549-ttl-non-negative", not ttl_problems, "; ".join(ttl_problems))
    with_scope = [(m, r["cacheScope"]) for m, r in seen if "cacheScope" in r]
    scope_problems = [] if with_scope else ["no endpoint returned cacheScope"]
    scope_problems += [f"{m}: cacheScope {s!r}" for m, s in with_scope if s not in ("public", "private")]
    ck.add("sep-2549-cache-scope-valid", not scope_problems, "; ".join(scope_problems))
    ck.done()


# --------------------------------------------------------------------------------------------------
# Not scored at 2026-07-28 (pending against the reference server), run for visibility
# --------------------------------------------------------------------------------------------------


SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.scenario("json-schema-2020-12", version=VERSION, scored=False)
async def test_json_schema_2020_12(conformance):
    async with conformance.http() as http:
        result, reply = await request(http, conformance.url, "tools/list")
    tools = result.get("tools") or []
    ck = Checks("json-schema-2020-12")
    tool = next((t for t in tools if isinstance(t, dict) and t.get("name") == "json_schema_2020_12_tool"), None)
    ck.add("json-schema-2020-12-tool-found", tool is not None,
           f"no tool json_schema_2020_12_tool among {[t.get('name') for t in tools if isinstance(t, dict)]}")
    if tool is None:
        ck.done()
    schema = tool.get("inputSchema") or {}
    ck.add("json-schema-2020-12-$schema", schema.get("$schema") == SCHEMA_DIALECT, f"$schema is {schema.get('$schema')!r}")
    defs = schema.get("$defs")
    ck.add("json-schema-2020-12-$defs", isinstance(defs, dict) and "address" in defs, f"$defs is {short(defs)}")
    ck.add("json-schema-2020-12-additionalProperties", "additionalProperties" in schema and schema["additionalProperties"] is False,
           f"additionalProperties is {schema.get('additionalProperties', '<absent>')!r}")
    all_of = schema.get("allOf")
    ck.add("sep-2106-composition-keywords-preserved",
           isinstance(all_of, list) and bool(all_of) and any(isinstance(s, dict) and isinstance(s.get("anyOf"), list) for s in all_of),
           f"allOf with a nested anyOf expected, got {short(all_of)}")
    ck.add("sep-2106-conditional-keywords-preserved", all(k in schema for k in ("if", "then", "else")),
           f"if/then/else expected among {sorted(schema)}")
    address = defs.get("address") if isinstance(defs, dict) else None
    ck.add("sep-2106-anchor-keyword-preserved", isinstance(address, dict) and "$anchor" in address,
           f"$defs.address lacks $anchor: {short(address)}")
    ck.done()


def raw_headers(extra: dict[str, str]) -> list[tuple[str, str]]:
    """What the header scenarios send over a raw socket: Content-Type, Accept, MCP-Protocol-Version, then `extra`
    exactly as given (names in their case, values with their whitespace)."""
    out = [("Content-Type", "application/json"), ("Accept", "application/json, text/event-stream"),
           ("MCP-Protocol-Version", VERSION)]
    return out + list(extra.items())


def accepted(reply: RawReply) -> tuple[bool, str]:
    """The scenario's acceptance: HTTP < 400 and no JSON-RPC error in the answer."""
    ok = reply.status < 400 and reply.error is None
    return ok, reply.describe()


def rejection(ck: Checks, status_id: str, code_id: str, what: str, reply: RawReply, *, code_should: bool) -> None:
    ck.add(status_id, reply.status == 400, f"{what}: expected HTTP 400, got {reply.describe()}")
    ck.add(code_id, (reply.error or {}).get("code") == -32020, f"{what}: expected error -32020, got {reply.describe()}",
           should=code_should)


@pytest.mark.scenario("http-header-validation", version=VERSION, scored=False)
async def test_http_header_validation(conformance):
    ck = Checks("http-header-validation")
    async with conformance.http() as http:
        tools_reply = await post(http, conformance.url, "tools/list", with_meta())
    tools = (tools_reply.result or {}).get("tools") if isinstance(tools_reply.result, dict) else None
    assert isinstance(tools, list), f"setup: tools/list failed: {tools_reply.describe()}"
    reject, reject_code = "sep-2243-server-reject-invalid-headers", "sep-2243-server-reject-error-code"
    rid = itertools.count(100)

    def body(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return wire.rpc_request(method, with_meta(params), next(rid))

    r = await raw_post(conformance, raw_headers({"Mcp-Method": "prompts/list"}), body("tools/list"))
    rejection(ck, reject, reject_code, "Mcp-Method prompts/list for a tools/list body", r, code_should=True)
    r = await raw_post(conformance, raw_headers({}), body("tools/list"))
    rejection(ck, reject, reject_code, "no Mcp-Method header", r, code_should=True)

    if tools:
        name = tools[0].get("name")
        call = {"name": name, "arguments": {}}
        r = await raw_post(conformance, raw_headers({"Mcp-Method": "tools/call", "Mcp-Name": "wrong_tool_name"}), body("tools/call", call))
        rejection(ck, reject, reject_code, f"Mcp-Name wrong_tool_name for tool {name}", r, code_should=True)
        r = await raw_post(conformance, raw_headers({"Mcp-Method": "tools/call", "Mcp-Name": f"  {name}  "}), body("tools/call", call))
        ok, desc = accepted(r)
        ck.add("sep-2243-server-accepts-whitespace-header-value", ok, f"Mcp-Name '  {name}  ' must be accepted: {desc}")
        r = await raw_post(conformance, raw_headers({"Mcp-Method": "tools/call"}), body("tools/call", call))
        rejection(ck, reject, reject_code, f"tools/call {name} without Mcp-Name", r, code_should=True)
    else:
        for check_id in (reject, "sep-2243-server-accepts-whitespace-header-value", reject):
            ck.fail(check_id, "not testable: the server lists no tools")

    r = await raw_post(conformance, raw_headers({"mcp-method": "tools/list"}), body("tools/list"))
    ok, desc = accepted(r)
    ck.add("sep-2243-header-name-case-insensitive", ok, f"header name mcp-method must be accepted: {desc}")
    r = await raw_post(conformance, raw_headers({"MCP-METHOD": "tools/list"}), body("tools/list"))
    ok, desc = accepted(r)
    ck.add("sep-2243-header-name-case-insensitive", ok, f"header name MCP-METHOD must be accepted: {desc}")
    r = await raw_post(conformance, raw_headers({"Mcp-Method": "TOOLS/LIST"}), body("tools/list"))
    rejection(ck, reject, reject_code, "Mcp-Method TOOLS/LIST (values are case-sensitive)", r, code_should=True)
    ck.done()


def js_string(value: Any) -> str:
    """JavaScript's String(value) for the scalars the scenario puts in headers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.mark.scenario("http-custom-header-server-validation", version=VERSION, scored=False)
async def test_http_custom_header_server_validation(conformance):
    ck = Checks("http-custom-header-server-validation")
    declared = ("sep-2243-server-decode-base64", "sep-2243-server-validate-param-match",
                "sep-2243-server-reject-invalid-param-chars", "sep-2243-server-reject-param-mismatch")
    async with conformance.http() as http:
        tools_reply = await post(http, conformance.url, "tools/list", with_meta())
    tools = (tools_reply.result or {}).get("tools") if isinstance(tools_reply.result, dict) else None
    assert isinstance(tools, list), f"setup: tools/list failed: {tools_reply.describe()}"

    def annotated(tool: Any) -> bool:
        props = ((tool or {}).get("inputSchema") or {}).get("properties") if isinstance(tool, dict) else None
        return isinstance(props, dict) and any(isinstance(p, dict) and "x-mcp-header" in p for p in props.values())

    tool = next((t for t in tools if annotated(t)), None)
    if tool is None:
        for check_id in declared:
            ck.fail(check_id, "not testable: no tool with an x-mcp-header parameter")
        ck.done()
    schema = tool["inputSchema"]
    props = schema["properties"]
    entry = next(((k, p) for k, p in props.items() if isinstance(p, dict) and "x-mcp-header" in p and p.get("type") == "string"), None)
    if entry is None:
        for check_id in declared:
            ck.fail(check_id, f"not testable: tool {tool.get('name')} has no string-typed x-mcp-header parameter")
        ck.done()
    param, pdef = entry
    suffix = pdef["x-mcp-header"]
    default_args: dict[str, Any] = {}
    default_headers: dict[str, str] = {}
    for required in schema.get("required") or []:
        if required == param:
            continue
        rdef = props.get(required) or {}
        rtype = rdef.get("type") or "string"
        default_args[required] = 0 if rtype in ("number", "integer") else (False if rtype == "boolean" else "test-default")
        if rdef.get("x-mcp-header"):
            default_headers[f"Mcp-Param-{rdef['x-mcp-header']}"] = js_string(default_args[required])
    rid = itertools.count(200)

    async def call(body_value: str, header_value: str | None) -> RawReply:
        extra = {**default_headers, "Mcp-Method": "tools/call", "Mcp-Name": tool["name"]}
        if header_value is not None:
            extra[f"Mcp-Param-{suffix}"] = header_value
        body = wire.rpc_request("tools/call", with_meta({"name": tool["name"], "arguments": {**default_args, param: body_value}}), next(rid))
        return await raw_post(conformance, raw_headers(extra), body)

    hello64 = base64.b64encode(b"Hello").decode()  # SGVsbG8=
    ok, desc = accepted(await call("Hello", f"=?base64?{hello64}?="))
    ck.add("sep-2243-server-decode-base64", ok, f"valid Base64 header for body 'Hello' must be accepted: {desc}")
    r = await call("Hello", "=?base64?SGVsbG8?=")
    rejection(ck, "sep-2243-server-reject-invalid-param-chars", "sep-2243-server-reject-param-mismatch",
              "Base64 with bad padding", r, code_should=False)
    r = await call("Hello", "=?base64?SGVs!!!bG8=?=")
    rejection(ck, "sep-2243-server-reject-invalid-param-chars", "sep-2243-server-reject-param-mismatch",
              "Base64 with non-alphabet characters", r, code_should=False)
    ok, desc = accepted(await call(hello64, hello64))
    ck.add("sep-2243-server-validate-param-match", ok, f"a value without the =?base64? prefix is literal: {desc}")
    ok, desc = accepted(await call(f"=?base64?{hello64}", f"=?base64?{hello64}"))
    ck.add("sep-2243-server-validate-param-match", ok, f"a value without the ?= suffix is literal: {desc}")
    r = await call("test-value", None)
    rejection(ck, "sep-2243-server-validate-param-match", "sep-2243-server-reject-param-mismatch",
              f"Mcp-Param-{suffix} omitted while the body has {param}", r, code_should=False)
    ck.done()
