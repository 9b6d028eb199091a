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
