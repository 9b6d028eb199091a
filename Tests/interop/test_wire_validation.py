"""Self-checks of the validating tee (no server needed): the suite's schema validation must catch
non-conforming messages, or a green run would prove nothing."""

from __future__ import annotations

import json

import httpx2
import pytest

from interop_wire import Exchange, TeeTransport, WireRecorder, _SSEParser

SERVER_INFO = {"io.modelcontextprotocol/serverInfo": {"name": "s", "version": "1"}}


def exchange(rec: WireRecorder, method: str, rid=1, meta=None, status=200, params=None) -> Exchange:
    p = dict(params or {})
    p["_meta"] = meta or {}
    ex = Exchange(len(rec.exchanges) + 1, "POST", "http://x/mcp", {}, {"jsonrpc": "2.0", "id": rid, "method": method, "params": p})
    ex.status = status
    ex.content_type = "application/json"
    rec.exchanges.append(ex)
    return ex


@pytest.fixture
def rec(schema_validator) -> WireRecorder:
    return WireRecorder(schema_validator)


def result(rid=1, **fields):
    fields.setdefault("resultType", "complete")
    fields.setdefault("_meta", SERVER_INFO)
    return {"jsonrpc": "2.0", "id": rid, "result": fields}


def test_conforming_results_pass(rec):
    rec.record(exchange(rec, "tools/call"), result(content=[{"type": "text", "text": "hi"}]), "json")
    rec.record(exchange(rec, "tools/list"), result(tools=[], ttlMs=0, cacheScope="private"), "json")
    rec.record(
        exchange(rec, "tools/call"),
        result(resultType="input_required", inputRequests={"k": {"method": "roots/list"}}, requestState="s"),
        "json",
    )
    assert rec.violations == []
    assert rec.validated == 3
    assert rec.by_definition["InputRequiredResult"] == 1


@pytest.mark.parametrize(
    "method,res,needle",
    [
        ("tools/call", {"resultType": "complete", "_meta": SERVER_INFO}, "'content' is a required property"),
        ("tools/call", {"content": [], "_meta": SERVER_INFO}, "resultType"),
        ("tools/call", {"content": [], "resultType": "complete"}, "serverInfo"),
        ("tools/call", {"content": [{"type": "text"}], "resultType": "complete", "_meta": SERVER_INFO}, "'text' is a required property"),
        ("tools/list", {"tools": [], "resultType": "complete", "_meta": SERVER_INFO}, "'ttlMs' is a required"),
        ("resources/read", {"contents": [], "ttlMs": 0, "cacheScope": "shared", "resultType": "complete", "_meta": SERVER_INFO}, "cacheScope"),
        ("completion/complete", {"completion": {"values": [1]}, "resultType": "complete", "_meta": SERVER_INFO}, "is not of type 'string'"),
        ("tools/call", {"resultType": "input_required", "_meta": SERVER_INFO}, "neither inputRequests nor requestState"),
        ("tools/call", {"resultType": "input_required", "inputRequests": {"k": {"method": "nope"}}, "_meta": SERVER_INFO}, "InputRequiredResult"),
        ("tools/list", {"resultType": "input_required", "requestState": "x", "_meta": SERVER_INFO}, "not a multi round-trip"),
        ("subscriptions/listen", {"resultType": "complete", "_meta": SERVER_INFO}, "subscriptionId"),
    ],
)
def test_bad_results_are_caught(rec, method, res, needle):
    rec.record(exchange(rec, method), {"jsonrpc": "2.0", "id": 1, "result": res}, "json")
    assert any(needle in v for v in rec.violations), rec.violations


def test_id_and_status_checks(rec):
    rec.record(exchange(rec, "tools/call", rid=5), result(rid=6, content=[]), "json")
    assert any("response id 6 != request id 5" in v for v in rec.violations)
    rec.violations.clear()
    err = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32020, "message": "mismatch"}}
    rec.record(exchange(rec, "tools/call", status=200), err, "json")
    assert any("HTTP 400" in v for v in rec.violations), rec.violations
    rec.violations.clear()
    err = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32021, "message": "missing"}}  # data is required
    rec.record(exchange(rec, "tools/call", status=400), err, "json")
    assert any("MissingRequiredClientCapabilityError" in v and "data" in v for v in rec.violations), rec.violations
    rec.violations.clear()
    rec.record(exchange(rec, "tools/call"), {"jsonrpc": "2.0", "id": 1, "error": {"code": "x"}}, "json")
    assert any("JSONRPCErrorResponse" in v for v in rec.violations)


def test_notification_rules(rec):
    ex = exchange(rec, "tools/call", meta={"progressToken": 3, "io.modelcontextprotocol/logLevel": "warning"})
    rec.record(ex, {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 3, "progress": 1}}, "sse")
    assert rec.violations == []
    rec.record(ex, {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 4, "progress": 1}}, "sse")
    rec.record(ex, {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 3}}, "sse")
    rec.record(ex, {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x"}}, "sse")
    rec.record(ex, {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "loud", "data": "x"}}, "sse")
    rec.record(ex, {"jsonrpc": "2.0", "method": "notifications/whatever"}, "sse")
    rec.record(ex, {"jsonrpc": "2.0", "id": 9, "method": "elicitation/create", "params": {}}, "sse")
    joined = "\n".join(rec.violations)
    assert "progressToken 4 != request's 3" in joined
    assert "'progress' is a required property" in joined
    assert "below the requested level 'warning'" in joined
    assert "LoggingMessageNotification" in joined
    assert "unknown server notification" in joined
    assert "no server-to-client requests" in joined
    rec.violations.clear()
    quiet = exchange(rec, "tools/call")
    rec.record(quiet, {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": 1}}, "sse")
    rec.record(quiet, {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "error", "data": "x"}}, "sse")
    joined = "\n".join(rec.violations)
    assert "without a progressToken" in joined and "did not opt in" in joined


def test_listen_rules(rec):
    ex = exchange(rec, "subscriptions/listen", rid="listen-1", params={"notifications": {}})
    upd = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "demo://x"}}
    rec.record(ex, upd, "sse")
    joined = "\n".join(rec.violations)
    assert "first message on a listen stream" in joined
    assert "subscriptionId None != listen id 'listen-1'" in joined
    rec.violations.clear()
    ex = exchange(rec, "subscriptions/listen", rid="listen-2", params={"notifications": {}})
    meta = {"io.modelcontextprotocol/subscriptionId": "listen-2"}
    rec.record(ex, {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged", "params": {"_meta": meta, "notifications": {}}}, "sse")
    rec.record(ex, {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"_meta": meta, "uri": "demo://x"}}, "sse")
    rec.record(ex, {"jsonrpc": "2.0", "id": "listen-2", "result": {"resultType": "complete", "_meta": dict(meta, **SERVER_INFO)}}, "sse")
    assert rec.violations == []
    assert rec.by_definition["SubscriptionsListenResult"] == 1
    rec.record(ex, {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged", "params": {"_meta": meta}}, "sse")
    assert any("'notifications' is a required property" in v for v in rec.violations)


def test_sse_parser_framing():
    got = []
    p = _SSEParser(lambda ev, data: got.append((ev, data)))
    stream = b": comment\r\nevent: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\nid: 7\ndata:\n\ndata: x\rdata: y\r\r"
    for i in range(len(stream)):  # byte by byte: every split point
        p.feed(stream[i : i + 1])
    p.close()
    assert got == [("message", '{"a":\n1}'), ("message", "x\ny")]  # the empty priming event is not dispatched
    assert p.ids == ["7"]
    got.clear()
    p = _SSEParser(lambda ev, data: got.append((ev, data)))
    p.feed(b"event: other\ndata: 1\n\ndata: unterminated")
    p.close()
    assert got == [("other", "1")]


@pytest.mark.anyio
async def test_tee_transport_sees_json_and_sse(rec):
    ack = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": 1}}
    res = {"jsonrpc": "2.0", "id": 1, "result": {"content": [], "resultType": "complete", "_meta": SERVER_INFO}}

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        if body["method"] == "tools/list":
            return httpx2.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": {"tools": [], "resultType": "complete"}})
        sse = f"event: message\ndata: {json.dumps(ack)}\n\nevent: message\ndata: {json.dumps(res)}\n\n"
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse.encode())

    async with httpx2.AsyncClient(transport=TeeTransport(rec, httpx2.MockTransport(handler))) as http:
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t", "_meta": {"progressToken": 1}}}
        r = await http.post("http://x/mcp", json=call)
        assert r.status_code == 200
        r = await http.post("http://x/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}})
        assert r.status_code == 200
    assert rec.validated == 3
    joined = "\n".join(rec.violations)
    assert "'ttlMs' is a required property" in joined and "serverInfo" in joined
    assert [m.kind for m in rec.recorded] == ["notification", "result", "result"]


def test_uri_format_is_checked(schema_validator):
    pytest.importorskip("rfc3986_validator", reason="requirements.txt installs it; jsonschema checks no 'uri' without it")
    def upd(uri):
        return {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": uri}}

    assert schema_validator.errors("ResourceUpdatedNotification", upd("demo://counter")) == []
    assert schema_validator.errors("ResourceUpdatedNotification", upd("demo://items/café")) == []  # an IRI
    assert schema_validator.errors("ResourceUpdatedNotification", upd("file:///tmp/a%20b")) == []
    for bad in ("no scheme", "demo://items/a b", "://x"):
        assert any("is not a 'uri'" in e for e in schema_validator.errors("ResourceUpdatedNotification", upd(bad))), bad


# --------------------------------------------------------------------------------------------------
# The legacy (session-based) era
# --------------------------------------------------------------------------------------------------

LEGACY_INIT_RESULT = {
    "protocolVersion": "2025-11-25",
    "capabilities": {"logging": {}, "resources": {"subscribe": True}, "tools": {"listChanged": True}},
    "serverInfo": {"name": "s", "version": "1"},
}


def legacy_exchange(rec: WireRecorder, method, rid=1, sid="sess-1", params=None, http="POST", status=200,
                    ctype="text/event-stream", last_event_id=None) -> Exchange:
    headers = {"mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"} if sid else {}
    if last_event_id:
        headers["last-event-id"] = last_event_id
    body = None
    if method is not None:
        body = {"jsonrpc": "2.0", "method": method, "params": params or {}}
        if rid is not None:
            body["id"] = rid
    ex = Exchange(len(rec.exchanges) + 1, http, "http://x/mcp", headers, body, era="legacy")
    if last_event_id:
        sess = rec.sessions.get(sid)
        known = sess.events.get(last_event_id) if sess else None
        if known:
            ex.origin = rec.exchanges[known[0] - 1].stream_origin
    ex.status = status
    ex.content_type = ctype
    rec.exchanges.append(ex)
    return ex


def legacy_session(rec: WireRecorder, version="2025-11-25", client_caps=None, sid="sess-1") -> None:
    ex = legacy_exchange(rec, "initialize", rid=0, sid=None, ctype="application/json",
                         params={"protocolVersion": version, "capabilities": client_caps or {}, "clientInfo": {"name": "c", "version": "1"}})
    ex.response_headers = {"mcp-session-id": sid}
    rec.record(ex, {"jsonrpc": "2.0", "id": 0, "result": dict(LEGACY_INIT_RESULT, protocolVersion=version)}, "json")
    assert rec.violations == [], rec.violations


def frame(rec, ex, msg=None, eid="e", retry=None):
    rec.legacy_frame(ex, "message", json.dumps(msg) if msg is not None else "", eid, retry)


def test_legacy_conforming_exchange_passes(rec):
    legacy_session(rec, client_caps={"elicitation": {}})
    ex = legacy_exchange(rec, "tools/call", rid=5, params={"name": "t", "_meta": {"progressToken": "p"}})
    frame(rec, ex, None, "s1.0", retry="1000")
    frame(rec, ex, {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": "p", "progress": 1}}, "s1.1")
    frame(rec, ex, {"jsonrpc": "2.0", "id": "q1", "method": "elicitation/create",
                    "params": {"message": "?", "requestedSchema": {"type": "object", "properties": {}}}}, "s1.2")
    frame(rec, ex, {"jsonrpc": "2.0", "id": 5, "result": {"content": [{"type": "text", "text": "ok"}]}}, "s1.3")
    assert rec.violations == [], rec.violations
    assert rec.by_definition["2025-11-25/ElicitRequest"] == 1 and rec.by_definition["2025-11-25/CallToolResult"] == 1
    # resuming after s1.1 replays s1.2 and s1.3 on the same stream: fine, also a re-priming with s1.1
    g = legacy_exchange(rec, None, http="GET", last_event_id="s1.1")
    assert g.origin is ex
    frame(rec, g, None, "s1.1", retry="1000")
    frame(rec, g, {"jsonrpc": "2.0", "id": "q1", "method": "elicitation/create",
                   "params": {"message": "?", "requestedSchema": {"type": "object", "properties": {}}}}, "s1.2")
    frame(rec, g, {"jsonrpc": "2.0", "id": 5, "result": {"content": [{"type": "text", "text": "ok"}]}}, "s1.3")
    assert rec.violations == [], rec.violations


def test_legacy_result_rules(rec):
    legacy_session(rec, version="2025-03-26")
    assert rec.sessions["sess-1"].version == "2025-03-26"
    ex = legacy_exchange(rec, "tools/call", rid=3, ctype="application/json")
    rec.record(ex, {"jsonrpc": "2.0", "id": 3, "result": {"content": [], "resultType": "complete"}}, "json")
    rec.record(ex, {"jsonrpc": "2.0", "id": 4, "result": {"isError": True}}, "json")  # draft-07 schema
    joined = "\n".join(rec.violations)
    assert "resultType (a 2026-07-28 member)" in joined
    assert "response id 4 != request id 3" in joined
    assert "schema 2025-03-26: CallToolResult at <root>: 'content' is a required property" in joined


def test_legacy_initialize_rules(rec):
    ex = legacy_exchange(rec, "initialize", rid=0, sid=None, ctype="application/json",
                         params={"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}})
    ex.response_headers = {"mcp-session-id": "bad id"}
    rec.response_started(ex, type("R", (), {"status_code": 200, "headers": {"content-type": "application/json", "mcp-session-id": "bad id"}})())
    rec.record(ex, {"jsonrpc": "2.0", "id": 0, "result": {"protocolVersion": "2025-11-25", "capabilities": {}}}, "json")
    joined = "\n".join(rec.violations)
    assert "is not visible ASCII" in joined
    assert "initialize asked for '2025-06-18'; the server answered '2025-11-25'" in joined
    assert "'serverInfo' is a required property" in joined


def test_legacy_server_request_rules(rec):
    legacy_session(rec, version="2025-03-26", client_caps={"elicitation": {}}, sid="old")
    legacy_session(rec, client_caps={}, sid="new")
    ask = {"jsonrpc": "2.0", "id": "q", "method": "elicitation/create",
           "params": {"message": "?", "requestedSchema": {"type": "object", "properties": {}}}}
    ex = legacy_exchange(rec, "tools/call", rid=1, sid="old")
    frame(rec, ex, None, "o.0", retry="10")
    frame(rec, ex, ask, "o.1")
    ex = legacy_exchange(rec, "tools/call", rid=1, sid="new")
    frame(rec, ex, None, "n.0", retry="10")
    frame(rec, ex, ask, "n.1")
    frame(rec, ex, dict(ask, id="q2", method="sampling/createMessage", params={"messages": [], "maxTokens": 1}), "n.2")
    frame(rec, ex, ask, "n.3")  # the same request id again
    joined = "\n".join(rec.violations)
    assert "'elicitation/create' does not exist at protocol 2025-03-26" in joined
    assert "did not declare the 'elicitation' capability" in joined
    assert "did not declare the 'sampling' capability" in joined
    assert "server reused request id 'q'" in joined


def test_legacy_notification_rules(rec):
    legacy_session(rec)
    ex = legacy_exchange(rec, "tools/call", rid=1, params={"_meta": {"progressToken": 9}})
    frame(rec, ex, None, "a.0", retry="10")
    log = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x"}}
    frame(rec, ex, log, "a.1")
    frame(rec, ex, {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 9, "progress": 2}}, "a.2")
    frame(rec, ex, {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 9, "progress": 1}}, "a.3")
    frame(rec, ex, {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "demo://x"}}, "a.4")
    frame(rec, ex, {"jsonrpc": "2.0", "method": "notifications/prompts/list_changed"}, "a.5")
    joined = "\n".join(rec.violations)
    assert "log message before the client sent logging/setLevel" in joined
    assert "progress 1 does not increase (previous 2)" in joined
    assert "which the session did not subscribe to" in joined
    assert "did not declare prompts.listChanged" in joined
    rec.violations.clear()
    setlevel = legacy_exchange(rec, "logging/setLevel", rid=2, params={"level": "warning"}, ctype="application/json")
    rec.record(setlevel, {"jsonrpc": "2.0", "id": 2, "result": {}}, "json")
    frame(rec, ex, log, "a.6")
    assert any("below the level set ('warning')" in v for v in rec.violations), rec.violations


def test_legacy_sse_framing_rules(rec):
    legacy_session(rec)
    ex = legacy_exchange(rec, "tools/call", rid=1)
    done = {"jsonrpc": "2.0", "id": 1, "result": {"content": []}}
    frame(rec, ex, done, None)  # no priming event, no retry, no id
    joined = "\n".join(rec.violations)
    assert "does not start with a priming event" in joined and "no retry field" in joined
    assert "SSE event without an id" in joined
    rec.violations.clear()
    ex2 = legacy_exchange(rec, "tools/call", rid=2)
    frame(rec, ex2, None, "x.0", retry="5")
    frame(rec, ex2, dict(done, id=2), "x.1")
    get = legacy_exchange(rec, None, http="GET")
    frame(rec, get, None, "x.1", retry="5")  # an id of another stream, re-used
    frame(rec, get, dict(done, id=2), "x.9")  # a response on the standalone stream
    resume = legacy_exchange(rec, None, http="GET", last_event_id="x.0")
    frame(rec, resume, {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}, "x.1")  # same id, other message
    joined = "\n".join(rec.violations)
    assert "was already used on another stream" in joined
    assert "JSON-RPC response on the standalone GET stream" in joined
    assert "reused for a different message" in joined


def test_legacy_http_status_rules(rec):
    legacy_session(rec)

    def respond(ex, status, ctype=""):
        rec.response_started(ex, type("R", (), {"status_code": status, "headers": {"content-type": ctype}})())
        if ex.http_method == "DELETE":
            rec.legacy_deleted(ex)

    respond(legacy_exchange(rec, "notifications/initialized", rid=None), 200, "application/json")
    respond(legacy_exchange(rec, "tools/list", rid=1), 202)
    respond(legacy_exchange(rec, None, http="GET"), 200, "application/json")
    respond(legacy_exchange(rec, None, http="DELETE"), 200)
    respond(legacy_exchange(rec, "tools/list", rid=2), 200, "application/json")
    joined = "\n".join(rec.violations)
    assert "notification/response was answered with HTTP 200" in joined
    assert "answered with 202 Accepted" in joined
    assert "not text/event-stream" in joined
    assert "deleted before it was sent got HTTP 200, expected 404" in joined
