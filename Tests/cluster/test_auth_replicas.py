"""Authorization (an OAuth 2.1 resource server) across replicas: three replicas of the demo server started with
`--auth-jwks` (a JWKS file made by scripts/mint-token), `--auth-issuer`, `--auth-audience` (the URL of their own
nginx), two `--auth-scope`s and `--auth-jwks-refresh-ms 200`, sharing the cluster's backend, behind an nginx of their
own rendered from nginx.conf.template (the standard cluster runs without auth). Raw HTTP (httpx2) through that
nginx unless a test pins replicas, and the official mcp 2.x client with a bearer token in both modes.

What is checked (docs/security.md):

* the protected resource metadata (RFC 9728) on every replica, at both well-known paths, without a token; absent
  (404) on replicas without auth; /healthz and /readyz need no token;
* 401 with `WWW-Authenticate: Bearer resource_metadata="...", scope="..."` for a request without a token, and with
  `error="invalid_token"` and an `error_description` for every kind of bad token (expired, not yet valid, wrong
  audience, wrong issuer, bad signature, `alg: none`, an HMAC "signed" with the public key, an unknown kid, a key
  that is not the kid's, garbage), a JSON-RPC error body (-32600, no id); the 30 s leeway; the audience's trailing
  slash; 400 `invalid_request` for a malformed Authorization header or a token in the query string;
* 403 `insufficient_scope` for a token lacking a required scope, and for `touch` without `demo:write` (2026-07-28,
  a 2025-11-25 session, and HTTP+SSE, where the 403 is the POST's answer), with the request's id in the body;
* binding: a 2025-era session and an HTTP+SSE session of principal A work for A on every replica (also with a newly
  minted token for the same iss/sub) and get the 404 of an unknown session for principal B; a `requestState`
  minted for A is refused for B;
* JWKS rotation on disk (a new kid accepted after the refresh interval) and a JWKS served over HTTP (cached, and
  refetched at most once per interval when a token names an unknown kid).
"""

from __future__ import annotations

import contextlib
import http.server
import json
import math
import re
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client, MCPError
from mcp.client.session import ClientRequestContext

from cluster_helpers import (
    AUTH_ISSUER,
    WRITE_SCOPE,
    AuthCluster,
    bearer,
    mint,
    pin,
    resource_metadata_url,
)
from demo_contract import text_of  # Tests/interop (on sys.path through conftest.py)
from interop_wire import TeeTransport
from legacy_http import initialize
from test_http_sse_raw import (  # Tests/interop
    echo,
    mint_session_id,
    sse_session,
)

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

MODERN = "2026-07-28"
ACCEPT = "application/json, text/event-stream"
NO_ID = object()  # the body of a refusal names no request: id absent or null


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


def plain(**kw: Any) -> httpx2.AsyncClient:
    """An httpx2 client outside the validating tee (for the metadata documents, and refusals judged here)."""
    kw.setdefault("timeout", httpx2.Timeout(15.0))
    return httpx2.AsyncClient(**kw)


# --------------------------------------------------------------------------------------------------
# Requests and the checks of a refusal
# --------------------------------------------------------------------------------------------------


def modern_body(id: Any, method: str, params: dict[str, Any] | None = None, caps: dict[str, Any] | None = None) -> dict[str, Any]:
    p = dict(params or {})
    p["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": caps or {}}
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": p}


def modern_headers(method: str, name: str | None = None, authorization: str | None = None) -> dict[str, str]:
    h = {"content-type": "application/json", "accept": ACCEPT, "mcp-protocol-version": MODERN, "mcp-method": method}
    if name is not None:
        h["mcp-name"] = name
    if authorization is not None:
        h["authorization"] = authorization
    return h


async def call_tool(http: Any, url: str, tool: str, arguments: dict[str, Any], *, token: str | None = None,
                    authorization: str | None = None, id: Any = 1) -> Any:
    """A 2026-07-28 tools/call POSTed (stateless); the whole response."""
    if authorization is None and token is not None:
        authorization = f"Bearer {token}"
    body = modern_body(id, "tools/call", {"name": tool, "arguments": arguments})
    return await http.post(url, content=json.dumps(body).encode(), headers=modern_headers("tools/call", tool, authorization))


async def echo_status(http: Any, url: str, token: str, text: str = "hi") -> tuple[int, Any]:
    r = await call_tool(http, url, "echo", {"text": text}, token=token)
    return r.status_code, r


_TOKEN68 = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAM = re.compile(r"\s*(" + _TOKEN68 + r")\s*=\s*(?:\"((?:[^\"\\]|\\.)*)\"|(" + _TOKEN68 + r"))\s*")


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    """`Scheme k="v", k2=v2` (RFC 9110 auth-params) -> (scheme, {k: v}); raises ValueError on anything else."""
    m = re.match(r"\s*(" + _TOKEN68 + r")(?:\s+|$)", value)
    if not m:
        raise ValueError(f"no auth scheme in {value!r}")
    scheme, pos, params = m.group(1), m.end(), {}
    while pos < len(value):
        pm = _PARAM.match(value, pos)
        if not pm:
            raise ValueError(f"cannot parse the auth-params of {value!r} at {value[pos:]!r}")
        name = pm.group(1).lower()
        if name in params:
            raise ValueError(f"auth-param {name} twice in {value!r}")
        params[name] = re.sub(r"\\(.)", r"\1", pm.group(2)) if pm.group(2) is not None else pm.group(3)
        pos = pm.end()
        if pos < len(value):
            if value[pos] != ",":
                raise ValueError(f"expected ',' in {value!r} at {value[pos:]!r}")
            pos += 1
    return scheme, params


def describe(r: Any) -> str:
    req = r.request
    auth = req.headers.get("authorization")
    sent = f"{req.method} {req.url}" + (f" Authorization: {auth[:40]}{'...' if len(auth) > 40 else ''}" if auth else " (no Authorization)")
    challenges = r.headers.get_list("www-authenticate")
    return f"request: {sent}\n  got: HTTP {r.status_code}, WWW-Authenticate: {challenges}, body: {r.text[:400]!r}"


def refusal_problems(r: Any, status: int, *, error: str | None, scope: str | None, rm: str,
                     description: str = "optional", body_id: Any = NO_ID, code: int | None = -32600,
                     scope_optional: bool = False) -> list[str]:
    """What is wrong with a refusal `r` against the contract: `status`, one Bearer challenge whose params are
    exactly error (when given), scope (when given, compared as a set of scopes; with `scope_optional` it may also
    be left out), resource_metadata and error_description ("required", "optional" or "absent"), and a JSON-RPC
    error body (with `code` when given, and `body_id`)."""
    problems = []
    if r.status_code != status:
        problems.append(f"HTTP {r.status_code}, expected {status}")
    values = r.headers.get_list("www-authenticate")
    if len(values) != 1:
        problems.append(f"{len(values)} WWW-Authenticate headers, expected one")
    for value in values[:1]:
        try:
            scheme, params = parse_challenge(value)
        except ValueError as exc:
            problems.append(str(exc))
            scheme, params = "", {}
        if scheme.lower() != "bearer":
            problems.append(f"challenge scheme {scheme!r}, expected Bearer")
        expected = {"resource_metadata": rm}
        if error is not None:
            expected["error"] = error
        for k, v in expected.items():
            if params.get(k) != v:
                problems.append(f"challenge {k}={params.get(k)!r}, expected {v!r}")
        if scope is None:
            if "scope" in params:
                problems.append(f"challenge scope={params['scope']!r}, expected none")
        elif scope_optional and "scope" not in params:
            pass
        elif sorted(params.get("scope", "").split(" ")) != sorted(scope.split(" ")):
            problems.append(f"challenge scope={params.get('scope')!r}, expected {scope!r}")
        if error is None and "error" in params:
            problems.append(f"challenge error={params['error']!r}, expected none")
        if description == "required" and not params.get("error_description"):
            problems.append("challenge without error_description")
        if description == "absent" and "error_description" in params:
            problems.append(f"challenge error_description={params['error_description']!r}, expected none")
        extra = set(params) - set(expected) - {"scope", "error", "error_description"}
        if extra:
            problems.append(f"unexpected challenge params {sorted(extra)}")
    if not r.headers.get("content-type", "").startswith("application/json"):
        problems.append(f"content type {r.headers.get('content-type')!r}, expected application/json")
    else:
        try:
            msg = r.json()
        except ValueError:
            msg = None
        err = msg.get("error") if isinstance(msg, dict) else None
        if not (isinstance(msg, dict) and msg.get("jsonrpc") == "2.0" and isinstance(err, dict) and "result" not in msg
                and isinstance(err.get("code"), int) and isinstance(err.get("message"), str)):
            problems.append("body is not a JSON-RPC error")
        else:
            if code is not None and err["code"] != code:
                problems.append(f"error code {err['code']}, expected {code}")
            if body_id is NO_ID:
                if msg.get("id") is not None:
                    problems.append(f"body id {msg.get('id')!r}, expected none (or null)")
            elif msg.get("id") != body_id:
                problems.append(f"body id {msg.get('id')!r}, expected {body_id!r}")
    return problems


def assert_refusal(r: Any, status: int, **kw: Any) -> None:
    problems = refusal_problems(r, status, **kw)
    assert not problems, "the server deviates from the contract:\n  " + "\n  ".join(problems) + "\n  " + describe(r)


def required(auth: AuthCluster) -> str:
    return " ".join(auth.scopes)


# --------------------------------------------------------------------------------------------------
# Metadata, health, and the 401s
# --------------------------------------------------------------------------------------------------


async def test_metadata_on_every_replica_without_a_token(auth):
    expected = {
        "resource": auth.audience,
        "authorization_servers": [AUTH_ISSUER],
        "bearer_methods_supported": ["header"],
    }
    problems = []
    async with plain() as http:
        for ep in auth.endpoints:
            for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
                r = await http.get(ep.base_url + path)
                where = f"GET {ep.base_url}{path} ({ep.name})"
                if r.status_code != 200 or not r.headers.get("content-type", "").startswith("application/json"):
                    problems.append(f"{where}: HTTP {r.status_code} {r.headers.get('content-type')!r} {r.text[:200]!r}")
                    continue
                doc = r.json()
                for k, v in expected.items():
                    if doc.get(k) != v:
                        problems.append(f"{where}: {k} = {doc.get(k)!r}, expected {v!r}")
                scopes = doc.get("scopes_supported")
                want = list(auth.scopes) + [WRITE_SCOPE]
                if not isinstance(scopes, list) or sorted(scopes) != sorted(want):
                    problems.append(f"{where}: scopes_supported = {scopes!r}, expected {want!r}")
            for path in ("/healthz", "/readyz"):
                r = await http.get(ep.base_url + path)
                if r.status_code != 200:
                    problems.append(f"GET {ep.base_url}{path} ({ep.name}) without a token: HTTP {r.status_code}")
    assert not problems, "\n".join(problems)
    # the URL the challenges name is served through nginx
    assert auth.resource_metadata == f"{auth.nginx.base_url}/.well-known/oauth-protected-resource/mcp"


async def test_metadata_is_404_without_auth(cluster):
    async with plain() as http:
        for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
            r = await http.get(cluster.a.base_url + path)
            assert r.status_code == 404, f"GET {path} on a replica without auth: HTTP {r.status_code} {r.text[:200]!r}"


async def test_missing_token_is_401_on_every_mcp_endpoint(auth, connect):
    rm, scope = auth.resource_metadata, required(auth)
    token = auth.token("alice")
    url = auth.nginx.url
    async with connect.to(auth.nginx).http() as http, plain() as raw:
        # 2026-07-28 stateless POST, and a legacy initialize
        assert_refusal(await call_tool(http, url, "echo", {"text": "x"}), 401, error=None, scope=scope, rm=rm, description="absent")
        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "auth-test", "version": "1"}}}
        r = await http.post(url, content=json.dumps(init).encode(), headers={"content-type": "application/json", "accept": ACCEPT})
        assert_refusal(r, 401, error=None, scope=scope, rm=rm, description="absent")
        # GET and DELETE of a session that exists (created with a token)
        async with connect.to(auth.nginx).http(headers=bearer(token)) as authed:
            s = await initialize(authed, url)
        h = {"mcp-session-id": s.session_id, "mcp-protocol-version": s.version}
        r = await raw.get(url, headers={**h, "accept": "text/event-stream"})
        assert_refusal(r, 401, error=None, scope=scope, rm=rm, description="absent")
        r = await raw.request("DELETE", url, headers=h)
        assert_refusal(r, 401, error=None, scope=scope, rm=rm, description="absent")
        # HTTP+SSE: the stream, and a POST for a session that exists
        r = await raw.get(auth.nginx.base_url + "/sse", headers={"accept": "text/event-stream"})
        assert_refusal(r, 401, error=None, scope=scope, rm=rm, description="absent")
        async with plain(headers=bearer(token)) as owner, sse_session(owner, auth.nginx) as c:
            r = await raw.post(c.url(), content=json.dumps(c.request_msg("ping")).encode(), headers={"content-type": "application/json"})
            assert_refusal(r, 401, error=None, scope=scope, rm=rm, description="absent")
        # the session is still there for its owner
        async with connect.to(auth.nginx).http(headers=bearer(token)) as authed:
            s.http = authed
            assert "result" in await s.call("ping")
            assert (await s.delete()).status_code == 200


def _bad_tokens(auth: AuthCluster, stranger: Path) -> dict[str, str]:
    good = auth.token("alice")
    header, payload, sig = good.split(".")
    return {
        "expired": auth.token("alice", args=("--exp-in", "-120")),
        "not yet valid": auth.token("alice", args=("--nbf-in", "300")),
        "wrong audience": auth.token("alice", aud="http://127.0.0.1:1/mcp"),
        "audience of another path": auth.token("alice", aud=auth.audience + "/other"),
        "wrong issuer": auth.token("alice", iss="https://evil-issuer.example"),
        "bad signature": auth.token("alice", args=("--bad-signature",)),
        "alg none": auth.token("alice", args=("--alg", "none")),
        "alg none without signature part": ".".join(auth.token("alice", args=("--alg", "none")).split(".")[:2]),
        "HS256 keyed with the public key": auth.token("alice", args=("--alg", "HS256")),
        "RS256 signature under alg RS512 header": _swap_alg(good, "RS512"),
        "unknown kid": auth.token("alice", key_dir=stranger, kid="ghost"),
        "kid k1 signed by another key": auth.token("alice", key_dir=stranger, kid="k1"),
        "payload swapped": ".".join([header, auth.token("mallory").split(".")[1], sig]),
        "garbage": "garbage",
        "three garbage parts": "abc.def.ghi",
        "empty signature of an RS256 header": f"{header}.{payload}.",
    }


def _swap_alg(token: str, alg: str) -> str:
    import base64

    header, payload, sig = token.split(".")
    h = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    h["alg"] = alg
    enc = base64.urlsafe_b64encode(json.dumps(h, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{enc}.{payload}.{sig}"


@pytest.fixture(scope="module")
def stranger(auth) -> Path:
    """Keys nobody trusts: kids `ghost` and `k1` (the same kid as the trusted key, another key)."""
    d = auth.state_dir / "stranger-keys"
    mint("init", str(d), "--kid", "ghost")
    mint("init", str(d), "--kid", "k1")
    return d


async def test_invalid_tokens_are_401_invalid_token(auth, stranger, connect):
    rm, scope = auth.resource_metadata, required(auth)
    failures = []
    async with connect.to(auth.nginx).http() as http:
        for kind, token in _bad_tokens(auth, stranger).items():
            r = await call_tool(http, auth.nginx.url, "echo", {"text": kind}, token=token)
            problems = refusal_problems(r, 401, error="invalid_token", scope=scope, rm=rm, description="required")
            if problems:
                failures.append(f"{kind}: " + "; ".join(problems) + "\n    " + describe(r))
    assert not failures, "bad tokens not refused as the contract says:\n  " + "\n  ".join(failures)


async def test_leeway_audience_forms_and_scope_claims_accepted(auth, connect):
    cases = {
        "exp 10 s ago (within the 30 s leeway)": auth.token("alice", args=("--exp-in", "-10")),
        "nbf in 10 s (within the leeway)": auth.token("alice", args=("--nbf-in", "10")),
        "nbf 10 s ago": auth.token("alice", args=("--nbf-in", "-10")),
        "audience with a trailing slash": auth.token("alice", aud=auth.audience + "/"),
        "scopes in scp (an array)": auth.token("alice", scopes=(), args=("--scp", ",".join(auth.scopes))),
        "scopes in scp (a string)": auth.token("alice", scopes=(), args=("--scp-string", " ".join(auth.scopes))),
        "extra scopes": auth.token("alice", extra_scopes=("openid", "profile")),
        "client_id claim": auth.token("alice", args=("--client-id", "some-client")),
    }
    failures = []
    async with connect.to(auth.nginx).http() as http:
        for kind, token in cases.items():
            status, r = await echo_status(http, auth.nginx.url, token, kind)
            if status != 200 or "result" not in r.json():
                failures.append(f"{kind}: {describe(r)}")
    assert not failures, "valid tokens refused:\n  " + "\n  ".join(failures)


async def test_audience_array_naming_the_resource_accepted(auth, connect):
    """RFC 7519: `aud` may be an array; one of its values is the resource (not spelled out by the contract)."""
    token = mint("token", str(auth.key_dir), "--iss", auth.issuer, "--aud", "https://other.example", "--aud", auth.audience,
                 "--sub", "alice", "--scope", required(auth), "--kid", "k1")
    async with connect.to(auth.nginx).http() as http:
        status, r = await echo_status(http, auth.nginx.url, token)
    assert status == 200, describe(r)


@pytest.mark.parametrize("value", ["Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer a b", "Token abc"])
async def test_malformed_authorization_is_400_invalid_request(auth, connect, value):
    async with connect.to(auth.nginx).http() as http:
        r = await call_tool(http, auth.nginx.url, "echo", {"text": "x"}, authorization=value)
    assert_refusal(r, 400, error="invalid_request", scope=required(auth), scope_optional=True, rm=auth.resource_metadata, code=None)


@pytest.mark.parametrize("with_header", [False, True], ids=["query-only", "query-and-header"])
async def test_token_in_query_is_400_invalid_request(auth, connect, with_header):
    token = auth.token("alice")
    url = f"{auth.nginx.url}?access_token={quote(token, safe='')}"
    async with connect.to(auth.nginx).http() as http:
        r = await call_tool(http, url, "echo", {"text": "x"}, token=token if with_header else None)
    assert_refusal(r, 400, error="invalid_request", scope=required(auth), scope_optional=True, rm=auth.resource_metadata, code=None)


# --------------------------------------------------------------------------------------------------
# Scopes
# --------------------------------------------------------------------------------------------------


async def test_token_lacking_a_required_scope_is_403(auth, connect):
    failures = []
    async with connect.to(auth.nginx).http() as http:
        for granted in [(auth.scopes[0],), (auth.scopes[1],), (), (WRITE_SCOPE,)]:
            r = await call_tool(http, auth.nginx.url, "echo", {"text": "x"}, token=auth.token("alice", scopes=granted))
            problems = refusal_problems(r, 403, error="insufficient_scope", scope=required(auth), rm=auth.resource_metadata, code=None)
            if problems:
                failures.append(f"scopes {granted}: " + "; ".join(problems) + "\n    " + describe(r))
    assert not failures, "\n  ".join(failures)


async def test_touch_needs_demo_write_at_2026_07_28(auth, connect):
    async with connect.to(auth.nginx).http() as http:
        r = await call_tool(http, auth.nginx.url, "touch", {"uri": "demo://greeting"}, token=auth.token("alice"), id="t-1")
        assert_refusal(r, 403, error="insufficient_scope", scope=WRITE_SCOPE, rm=auth.resource_metadata, body_id="t-1", code=None)
        r = await call_tool(http, auth.nginx.url, "touch", {"uri": "demo://greeting"}, token=auth.token("alice", extra_scopes=(WRITE_SCOPE,)), id="t-2")
        assert r.status_code == 200, describe(r)
        assert r.json()["result"]["content"][0]["text"] == "touched demo://greeting"
        # without demo:write every other tool still works
        status, r = await echo_status(http, auth.nginx.url, auth.token("alice"))
        assert status == 200, describe(r)


async def test_touch_needs_demo_write_in_a_2025_11_25_session(auth, connect):
    async with connect.to(auth.nginx).http(headers=bearer(auth.token("alice"))) as http:
        s = await initialize(http, auth.nginx.url)
        assert s.version == "2025-11-25"
        msg = s.request_msg("tools/call", {"name": "touch", "arguments": {"uri": "demo://greeting"}})
        r = await s.post(msg)
        assert_refusal(r, 403, error="insufficient_scope", scope=WRITE_SCOPE, rm=auth.resource_metadata, body_id=msg["id"], code=None)
        m = await s.call("tools/call", {"name": "echo", "arguments": {"text": "still here"}})
        assert m["result"]["content"][0]["text"] == "still here"
        writer = f"Bearer {auth.token('alice', extra_scopes=(WRITE_SCOPE,))}"
        m = await s.call("tools/call", {"name": "touch", "arguments": {"uri": "demo://greeting"}}, authorization=writer)
        assert m["result"]["content"][0]["text"] == "touched demo://greeting", m
        assert (await s.delete()).status_code == 200


async def test_touch_in_a_2025_03_26_batch_needs_demo_write_too(auth, connect):
    """A batch has no status per call: the touch inside it gets a JSON-RPC error, and does not run (the counter stays),
    while the echo beside it runs."""
    async with connect.to(auth.nginx).http(headers=bearer(auth.token("alice"))) as http:
        s = await initialize(http, auth.nginx.url, version="2025-03-26")
        assert s.version == "2025-03-26"
        before = (await s.call("resources/read", {"uri": "demo://counter"}))["result"]["contents"][0]["text"]
        touch = s.request_msg("tools/call", {"name": "touch", "arguments": {"uri": "demo://counter"}})
        echo_msg = s.request_msg("tools/call", {"name": "echo", "arguments": {"text": "batched"}})
        r = await s.post([touch, echo_msg])
        assert r.status_code in (200, 403), describe(r)
        if r.status_code == 200:
            if r.headers.get("content-type", "").startswith("application/json"):
                body = r.json()
            else:
                body = [json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:") and line[5:].strip()]
                body = [m for part in body for m in (part if isinstance(part, list) else [part])]
            by_id = {m.get("id"): m for m in (body if isinstance(body, list) else [body])}
            assert "error" in by_id.get(touch["id"], {}), f"touch without demo:write in a batch: {json.dumps(body)[:600]}"
            assert by_id.get(echo_msg["id"], {}).get("result", {}).get("content", [{}])[0].get("text") == "batched", body
        after = (await s.call("resources/read", {"uri": "demo://counter"}))["result"]["contents"][0]["text"]
        assert after == before, f"the counter moved from {before} to {after}: the refused touch ran"
        assert (await s.delete()).status_code == 200


async def test_touch_needs_demo_write_over_http_sse(auth, sse):
    token = auth.token("alice")
    async with sse.http(headers=bearer(token)) as http, plain(headers=bearer(token)) as raw:
        async with sse_session(http, auth.nginx) as c:
            msg = c.request_msg("tools/call", {"name": "touch", "arguments": {"uri": "demo://greeting"}})
            # outside the tee: its HTTP+SSE rules want refusals without an id, the contract puts the request's id here
            r = await raw.post(c.url(), content=json.dumps(msg).encode(), headers={"content-type": "application/json"})
            assert_refusal(r, 403, error="insufficient_scope", scope=WRITE_SCOPE, rm=auth.resource_metadata, body_id=msg["id"], code=None)
            m = await c.call("tools/call", echo("after the 403"))
            assert m["result"]["content"][0]["text"] == "after the 403"
            assert c.stream.answers_to(msg["id"]) == [], "the refused touch was answered on the stream too"
            writer = auth.token("alice", extra_scopes=(WRITE_SCOPE,))
            msg = c.request_msg("tools/call", {"name": "touch", "arguments": {"uri": "demo://greeting"}})
            r = await c.post(msg, headers=bearer(writer))
            assert r.status_code == 202, describe(r)
            m = await c.stream.response(msg["id"])
            assert m["result"]["content"][0]["text"] == "touched demo://greeting", m


# --------------------------------------------------------------------------------------------------
# Binding to the principal (iss, sub)
# --------------------------------------------------------------------------------------------------


def _same_404(mine: Any, unknown: Any, sid: str, unknown_sid: str) -> list[str]:
    """The refusal of a foreign session against that of an unknown one: same status, same JSON-RPC error."""
    problems = []
    if mine.status_code != 404 or unknown.status_code != 404:
        problems.append(f"foreign session HTTP {mine.status_code}, unknown session HTTP {unknown.status_code} (expected 404 both)")

    def error_of(r: Any, s: str) -> Any:
        try:
            e = r.json().get("error")
        except (ValueError, AttributeError):
            return ("not a JSON-RPC error", r.text[:200])
        if not isinstance(e, dict):
            return ("not a JSON-RPC error", r.text[:200])
        return {"code": e.get("code"), "message": str(e.get("message", "")).replace(s, "<sid>")}

    foreign, missing = error_of(mine, sid), error_of(unknown, unknown_sid)
    if foreign != missing:
        problems.append(f"foreign session answered {foreign!r}, unknown session {missing!r}")
    return problems


async def test_session_of_a_works_for_a_everywhere_and_is_404_for_b(auth, connect):
    tok_a, tok_b = auth.token("alice"), auth.token("bob")
    unknown = mint_session_id(auth.key)
    problems = []
    async with connect.to(auth.nginx).http(headers=bearer(tok_a)) as http:
        s = await initialize(http, auth.nginx.url, capabilities={"elicitation": {}})
        for r in auth.replicas:
            v = pin(s, r)
            m = await v.call("tools/call", {"name": "echo", "arguments": {"text": f"A on {r.name}"}})
            assert m["result"]["content"][0]["text"] == f"A on {r.name}", m
            as_b = await v.post(v.request_msg("ping"), authorization=f"Bearer {tok_b}")
            as_unknown = await v.post(v.request_msg("ping"), session=unknown)
            problems += [f"POST on {r.name}: {p}" for p in _same_404(as_b, as_unknown, s.session_id, unknown)]
            async with v.get(authorization=f"Bearer {tok_b}") as (resp, _):
                if resp.status_code != 404:
                    problems.append(f"GET by B on {r.name}: HTTP {resp.status_code}")
            d = await v.delete(authorization=f"Bearer {tok_b}")
            if d.status_code != 404:
                problems.append(f"DELETE by B on {r.name}: HTTP {d.status_code}")
        # a newly minted token for the same (iss, sub): the session goes on, on every replica
        tok_a2 = auth.token("alice", args=("--exp-in", "1800"))
        assert tok_a2 != tok_a
        for r in auth.replicas:
            m = await pin(s, r).call("tools/call", {"name": "echo", "arguments": {"text": "refreshed"}}, authorization=f"Bearer {tok_a2}")
            if m.get("result", {}).get("content", [{}])[0].get("text") != "refreshed":
                problems.append(f"A's session with a re-minted token on {r.name}: {json.dumps(m)[:300]}")
        # B's DELETEs did not end it: A ends it
        assert (await s.delete()).status_code == 200
    assert not problems, "\n".join(problems)


async def test_http_sse_session_of_a_works_for_a_everywhere_and_is_404_for_b(auth, sse):
    tok_a, tok_b = auth.token("alice"), auth.token("bob")
    unknown = mint_session_id(auth.key)
    problems = []
    async with sse.http(headers=bearer(tok_a)) as http:
        async with sse_session(http, auth.nginx) as c:
            for r in auth.replicas:
                m = await c.call("tools/call", echo(f"A on {r.name}"), via=r)
                assert m["result"]["content"][0]["text"] == f"A on {r.name}", m
                as_b = await c.post(c.request_msg("ping"), via=r, headers=bearer(tok_b))
                as_unknown = await c.post(c.request_msg("ping"), via=r, session=unknown)
                problems += [f"POST on {r.name}: {p}" for p in _same_404(as_b, as_unknown, c.sid, unknown)]
            tok_a2 = auth.token("alice", args=("--exp-in", "1800"))
            for r in auth.replicas:
                msg = c.request_msg("tools/call", echo(f"refreshed on {r.name}"))
                resp = await c.post(msg, via=r, headers=bearer(tok_a2))
                if resp.status_code != 202:
                    problems.append(f"A's POST with a re-minted token on {r.name}: HTTP {resp.status_code} {resp.text[:200]!r}")
                    continue
                m = await c.stream.response(msg["id"])
                assert m["result"]["content"][0]["text"] == f"refreshed on {r.name}", m
            assert not c.stream.ended and c.stream.error is None
    assert not problems, "\n".join(problems)


@contextlib.asynccontextmanager
async def _bearer_transport(url: str, wire: Any, token: str):
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(transport=TeeTransport(wire), headers=bearer(token), timeout=httpx2.Timeout(30.0, read=300.0)) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            yield streams


def bearer_client(connect: Any, endpoint: Any, token: str, mode: str = MODERN, **kw: Any) -> Client:
    """An mcp 2.x `Client` on the validating tee whose every HTTP request carries `Authorization: Bearer token`."""
    kw.setdefault("cache", None)
    kw.setdefault("read_timeout_seconds", 15)
    kw.setdefault("client_info", types.Implementation(name="swift-mcp-auth-test", version="1.0"))
    return Client(_bearer_transport(endpoint.url, connect.wire, token), mode=mode, **kw)


async def _unused_elicitation(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
    raise AssertionError("the manual rounds must not reach the callback")  # only declares the capability


async def test_request_state_of_a_is_refused_for_b(auth, connect):
    a0, a1, a2 = auth.replicas[0], auth.replicas[1 % len(auth.replicas)], auth.replicas[2 % len(auth.replicas)]
    async with bearer_client(connect, a0, auth.token("alice"), elicitation_callback=_unused_elicitation) as alice, \
            bearer_client(connect, a1, auth.token("bob"), elicitation_callback=_unused_elicitation) as bob, \
            bearer_client(connect, a2, auth.token("alice", args=("--exp-in", "1800")), elicitation_callback=_unused_elicitation) as alice2:
        first = await alice.session.call_tool("ask", {"question": "Whose state?"}, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult), first
        (key, req), = first.input_requests.items()
        assert req.method == "elicitation/create"
        answer = {key: types.ElicitResult(action="accept", content={"answer": "mine"})}
        with pytest.raises(MCPError) as ei:
            r = await bob.session.call_tool("ask", {"question": "Whose state?"}, input_responses=answer,
                                            request_state=first.request_state, allow_input_required=True)
            pytest.fail(f"B's retry with A's requestState got a result: {r!r}")
        print(f"B's retry with A's requestState: {ei.value.code} {ei.value}")
        # A, with a newly minted token, on a third replica: the state opens
        final = await alice2.session.call_tool("ask", {"question": "Whose state?"}, input_responses=answer,
                                               request_state=first.request_state, allow_input_required=True)
        assert isinstance(final, types.CallToolResult), final
        assert text_of(final) == "answer: mine"


# --------------------------------------------------------------------------------------------------
# The official client with a bearer token
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [MODERN, "legacy"])
async def test_mcp2_client_with_a_bearer_token_through_nginx(auth, connect, mode):
    token = auth.token("alice", extra_scopes=(WRITE_SCOPE,))
    mark = connect.wire.mark()
    async with bearer_client(connect, auth.nginx, token, mode=mode) as c:
        if mode == "legacy":
            assert c.protocol_version == "2025-11-25"
        for k in range(len(auth.replicas)):
            assert text_of(await c.call_tool("echo", {"text": f"bearer {k}"})) == f"bearer {k}"
        assert text_of(await c.call_tool("touch", {"uri": "demo://greeting"})) == "touched demo://greeting"
    exchanges = connect.wire.since(mark)[0]
    assert exchanges and all(e.request_headers.get("authorization") == f"Bearer {token}" for e in exchanges)
    assert all(e.status in (200, 202) for e in exchanges), [e.describe() for e in exchanges if e.status not in (200, 202)]
    served = {n for n in _upstreams(auth, exchanges)}
    assert len(served) == len(auth.replicas), f"nginx did not spread the requests over every replica: {served}"


def _upstreams(auth: AuthCluster, exchanges: list[Any]) -> list[str]:
    by_port = {r.port: r.name for r in auth.replicas}
    out = []
    for e in exchanges:
        up = e.response_headers.get("x-upstream")
        if up and ":" in up:
            out.append(by_port.get(int(up.split(",")[-1].strip().rsplit(":", 1)[1]), up))
    return out


# --------------------------------------------------------------------------------------------------
# The JWKS: rotation on disk, and served over HTTP
# --------------------------------------------------------------------------------------------------


async def test_jwks_rotated_on_disk(auth, connect):
    """A key added to the JWKS file (a new kid) is accepted by every replica once the refresh interval (200 ms) has
    passed since their last read; the old key still works."""
    mint("init", str(auth.key_dir), "--kid", "k2")
    new = auth.token("carol", kid="k2")
    await anyio.sleep(0.3)
    failures = []
    async with connect.to(auth.nginx).http() as http:
        for r in auth.replicas:
            for kind, token in (("new kid k2", new), ("old kid k1", auth.token("carol", kid="k1"))):
                status, resp = await echo_status(http, r.url, token, kind)
                if status != 200:
                    failures.append(f"{kind} on {r.name}: {describe(resp)}")
    assert not failures, "\n".join(failures)


class _JwksServer:
    """A JWKS served over HTTP from a file (read at every GET), counting the GETs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.gets: list[float] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                owner.gets.append(time.monotonic())
                body = owner.path.read_bytes()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/keys/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_jwks_over_http_cached_and_refetched_at_most_once_per_interval(auth, cluster, stranger, connect):
    """One replica (memory backend) whose `--auth-jwks` is an http:// URL, its audience a bare origin (so its
    resource_metadata is /.well-known/oauth-protected-resource with no suffix)."""
    state = cluster.state_dir / "auth-http"
    keys = state / "keys"
    mint("init", str(keys), "--kid", "k1")
    jwks = _JwksServer(keys / "jwks.json")
    audience = "https://mcp.example.test"
    try:
        h = await anyio.to_thread.run_sync(lambda: AuthCluster(
            cluster, state, id_prefix="authh", replicas=1, nginx=False, jwks=jwks.url, audience=audience,
            backend="memory", refresh_ms=200, key_dir=keys))
    except BaseException:
        jwks.close()
        raise
    try:
        (rep,) = h.replicas
        rm = resource_metadata_url(audience)
        assert rm == "https://mcp.example.test/.well-known/oauth-protected-resource"
        async with plain() as raw, connect.to(rep).http() as http:
            r = await raw.get(rep.base_url + "/.well-known/oauth-protected-resource")
            assert r.status_code == 200 and r.json().get("resource") == audience, describe(r)
            assert_refusal(await call_tool(http, rep.url, "echo", {"text": "x"}), 401, error=None, scope=required(h), rm=rm, description="absent")
            for aud in (audience, audience + "/"):
                status, r = await echo_status(http, rep.url, h.token("alice", aud=aud))
                assert status == 200, f"aud {aud!r}: {describe(r)}"
            f0 = len(jwks.gets)
            assert f0 >= 1, "the JWKS was never fetched"
            for k in range(5):
                status, r = await echo_status(http, rep.url, h.token("alice"), f"cached {k}")
                assert status == 200, describe(r)
            assert len(jwks.gets) == f0, f"{len(jwks.gets) - f0} JWKS fetches for tokens whose kid is known"
            # rotation: a new key in the served JWKS, accepted once the interval has passed
            mint("init", str(keys), "--kid", "k2")
            await anyio.sleep(0.3)
            status, r = await echo_status(http, rep.url, h.token("alice", kid="k2"), "k2")
            assert status == 200, describe(r)
            assert len(jwks.gets) == f0 + 1, f"{len(jwks.gets) - f0} JWKS fetches for one new kid (expected 1)"
            # a burst of tokens naming unknown kids: every one refused, at most one refetch per 200 ms
            await anyio.sleep(0.3)
            f1, t0 = len(jwks.gets), time.monotonic()
            for k in range(12):
                r = await call_tool(http, rep.url, "echo", {"text": "x"}, token=h.token("alice", key_dir=stranger, kid="ghost"))
                assert_refusal(r, 401, error="invalid_token", scope=required(h), rm=rm, description="required")
            elapsed = time.monotonic() - t0
            fetched = len(jwks.gets) - f1
            allowed = math.floor(elapsed / 0.2) + 1
            assert 1 <= fetched <= allowed, f"{fetched} JWKS fetches in {elapsed:.2f} s of unknown kids (at most {allowed})"
    finally:
        await anyio.to_thread.run_sync(h.stop)
        jwks.close()
