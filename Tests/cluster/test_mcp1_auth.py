"""The official mcp 1.30.0 clients with a bearer token, through the round-robin nginx of three replicas started with
authorization on (`cluster_helpers.AuthCluster`: `--auth-jwks` from scripts/mint-token, `--auth-issuer`,
`--auth-audience`, two `--auth-scope`s), sharing the cluster's backend. Runs in the mcp 1.x venv.

Streamable HTTP (`streamable_http_client` + `ClientSession`, 2025-11-25) and the deprecated HTTP+SSE transport
(`sse_client`), each with a token holding the required scopes and `demo:write`: echo and touch, every request
carrying the token, spread over the replicas. Everything the servers send is schema-validated (the `connect`
fixture's tee, and `HttpSseWire` for the HTTP+SSE session).
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import mcp.types as types
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client

from cluster_helpers import WRITE_SCOPE, AuthCluster, bearer
from demo_contract import text_of  # Tests/interop (on sys.path through conftest.py)
from test_http_sse_raw import SSE_PATH, HttpSseWire  # Tests/interop
from test_legacy_mcp1_client import v1_session  # Tests/interop
from test_mcp1_sse_via_nginx import tee_client_factory

pytestmark = pytest.mark.anyio


class BearerConnector:
    """What `v1_session` needs of a connector (`.url`, `.httpx()`), with `Authorization: Bearer token` on every
    request of its httpx client (the validating tee of `connect`)."""

    def __init__(self, connect: Any, endpoint: Any, token: str) -> None:
        self.inner = connect.to(endpoint)
        self.url = endpoint.url
        self.token = token

    def httpx(self, **kw: Any):
        kw.setdefault("headers", bearer(self.token))
        return self.inner.httpx(**kw)


def served_by(auth: AuthCluster, exchanges: list[Any]) -> set[str]:
    by_port = {r.port: r.name for r in auth.replicas}
    out = set()
    for e in exchanges:
        up = e.response_headers.get("x-upstream")
        if up and ":" in up:
            out.add(by_port.get(int(up.split(",")[-1].strip().rsplit(":", 1)[1]), up))
    return out


async def test_mcp1_streamable_http_with_a_bearer_token(auth, connect):
    token = auth.token("alice", extra_scopes=(WRITE_SCOPE,))
    mark = connect.wire.mark()
    async with v1_session(BearerConnector(connect, auth.nginx, token)) as s:
        assert s.init.protocolVersion == "2025-11-25"
        for k in range(len(auth.replicas)):
            assert text_of(await s.call_tool("echo", {"text": f"v1 bearer {k}"})) == f"v1 bearer {k}"
        assert text_of(await s.call_tool("touch", {"uri": "demo://greeting"})) == "touched demo://greeting"
    exchanges = connect.wire.since(mark)[0]
    assert exchanges and all(e.request_headers.get("authorization") == f"Bearer {token}" for e in exchanges)
    assert all(e.status in (200, 202) for e in exchanges), [e.describe() for e in exchanges if e.status not in (200, 202)]
    assert served_by(auth, exchanges) == {r.name for r in auth.replicas}, served_by(auth, exchanges)


@contextlib.asynccontextmanager
async def sse_v1_bearer_session(wire: HttpSseWire, target: Any, token: str, **kw: Any):
    sids: list[str] = []
    kw.setdefault("read_timeout_seconds", timedelta(seconds=15))
    kw.setdefault("client_info", types.Implementation(name="swift-mcp-auth-sse-v1", version="1.0"))
    async with sse_client(
        target.base_url + SSE_PATH, headers=bearer(token), timeout=10, httpx_client_factory=tee_client_factory(wire),
        on_session_created=sids.append,
    ) as (read, write):
        async with ClientSession(read, write, **kw) as s:
            s.init = await s.initialize()
            s.sid = sids[0]
            yield s


async def test_mcp1_sse_client_with_a_bearer_token(auth, sse):
    token = auth.token("alice", extra_scopes=(WRITE_SCOPE,))
    mark = sse.mark()
    async with sse_v1_bearer_session(sse, auth.nginx, token) as s:
        assert s.init.protocolVersion == "2025-11-25"
        for k in range(len(auth.replicas)):
            assert text_of(await s.call_tool("echo", {"text": f"sse bearer {k}"})) == f"sse bearer {k}"
        assert text_of(await s.call_tool("touch", {"uri": "demo://greeting"})) == "touched demo://greeting"
        posts = sse.posts_of(s.sid)
    exchanges = sse.since(mark)[0]
    assert exchanges and all(e.request_headers.get("authorization") == f"Bearer {token}" for e in exchanges)
    assert posts and all(e.status == 202 for e in posts), [e.describe() for e in posts if e.status != 202]
    assert len(served_by(auth, posts)) == len(auth.replicas), f"the session's POSTs did not reach every replica: {served_by(auth, posts)}"
