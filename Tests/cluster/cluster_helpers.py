"""Helpers of the cluster suite on top of the interop suite's raw legacy helpers (Tests/interop/legacy_http.py):
`Endpoint` (a replica or nginx), `pin`, ..., and the authorization tests' replicas (`AuthCluster`)."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio

import cluster_ctl
from legacy_http import RawSession, read_stats
from loopback import LoopbackServer

ELICIT = {"elicitation": {}}
ALL_CLIENT_CAPS = {"elicitation": {}, "sampling": {}, "roots": {"listChanged": True}}


@dataclass
class Endpoint(LoopbackServer):
    """Something to aim a client at: nginx or one replica (pinned by its port), of the cluster or of an
    `AuthCluster`."""

    name: str
    port: int
    log_path: Path | None = None

    def __repr__(self) -> str:
        return f"<{self.name} :{self.port}>"


def pin(s: RawSession, endpoint: Any) -> RawSession:
    """The same legacy session, with its requests sent to `endpoint` (a replica or nginx). The views of one
    session share its JSON-RPC id counter, so that no two requests of the session have the same id."""
    view = copy.copy(s)
    view.url = endpoint.url
    view.next_id = s.next_id  # the original's bound method: one counter for every view
    return view


def text_of(msg: dict) -> str:
    assert "result" in msg, msg
    return msg["result"]["content"][0]["text"]


def countdown_msg(s: RawSession, steps: int, interval_ms: int, token: Any = None) -> dict:
    params: dict[str, Any] = {"name": "countdown", "arguments": {"steps": steps, "intervalMs": interval_ms}}
    if token is not None:
        params["_meta"] = {"progressToken": token}
    return s.request_msg("tools/call", params)


async def stats_at(s: RawSession, replica: Any) -> dict[str, Any]:
    """demo://stats of one replica (its counters are per process), read by session `s` pinned to it."""
    st = await read_stats(pin(s, replica))
    assert st.get("replicaId") == replica.name, f"demo://stats read from {replica} says it is {st.get('replicaId')!r}"
    return st


async def poll_stats_at(s: RawSession, replica: Any, predicate, timeout: float = 10.0) -> dict[str, Any]:
    last: dict[str, Any] = {}
    with anyio.move_on_after(timeout):
        while True:
            last = await stats_at(s, replica)
            if predicate(last):
                return last
            await anyio.sleep(0.05)
    return last


def upstream_names(cluster: Any, exchanges: list[Any]) -> list[str]:
    """For each exchange that went through nginx, the replica that answered it (X-Upstream: the last address
    nginx tried)."""
    out = []
    for ex in exchanges:
        up = ex.response_headers.get("x-upstream")
        if not up:
            continue
        last = up.split(",")[-1].strip()
        r = cluster.by_port(int(last.rsplit(":", 1)[1])) if ":" in last else None
        out.append(r.name if r else last)
    return out


def progress_values(frames: list[Any]) -> list[Any]:
    return [f.message["params"]["progress"] for f in frames if f.data and f.message.get("method") == "notifications/progress"]


def dump(msg: Any) -> str:
    return json.dumps(msg)[:2000]


async def wait_for_standalone_streams(wire: Any, mark: Any, count: int = 1, timeout: float = 10.0) -> None:
    """Waits until `count` standalone GET streams opened since `mark` are primed (the client holds them), so that
    a change raised now reaches them."""
    with anyio.fail_after(timeout):
        while True:
            exchanges = wire.since(mark)[0]
            if sum(1 for e in exchanges if e.http_method == "GET" and e.status == 200 and e.primed and e.last_event_id is None) >= count:
                return
            await anyio.sleep(0.02)


def relayed_answers(cluster: Any, wire: Any, mark: Any) -> list[tuple[str, str]]:
    """(replica named in a server-to-client request id, replica nginx sent the client's answer to), for each
    answer the client POSTed through nginx since `mark`."""
    out = []
    exchanges = wire.since(mark)[0]
    for ex in exchanges:
        body = ex.request_body
        if ex.http_method == "POST" and isinstance(body, dict) and "method" not in body and isinstance(body.get("id"), str):
            parts = body["id"].split(".")
            served = upstream_names(cluster, [ex])
            if len(parts) >= 3 and parts[0] == "s2c" and served:
                out.append((parts[1], served[0]))
    return out


# --------------------------------------------------------------------------------------------------
# Replicas with authorization on (test_auth_replicas.py, test_mcp1_auth.py)
# --------------------------------------------------------------------------------------------------

MINT_TOKEN = Path(__file__).resolve().parents[2] / "scripts" / "mint-token"
AUTH_ISSUER = "https://issuer.auth-test.example"
AUTH_SCOPES = ("mcp:access", "mcp:tools")  # --auth-scope: every MCP request needs both
WRITE_SCOPE = "demo:write"  # what the demo's `touch` needs


def mint(*args: str) -> str:
    """Runs scripts/mint-token with `args`; its output, stripped."""
    proc = subprocess.run([sys.executable, str(MINT_TOKEN), *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"mint-token {' '.join(args)} failed: {proc.stderr.strip()}"
    return proc.stdout.strip()


def resource_metadata_url(audience: str) -> str:
    """RFC 9728's URL for a resource: the well-known path inserted between the host and the resource's path."""
    parts = urlsplit(audience)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-protected-resource{path}"


class AuthCluster:
    """Replicas of the demo server with the resource server on (`--auth-jwks` ... ), sharing the cluster's
    backend, with their own key ring, replica ids `<prefix>1..N`, a JWKS made by scripts/mint-token in
    `state_dir/keys`, and (with `nginx=True`) an nginx of their own in front, rendered from nginx.conf.template
    as run.sh renders it. The audience is the nginx URL's /mcp unless given."""

    def __init__(
        self,
        cluster: Any,
        state_dir: Path,
        *,
        id_prefix: str = "auth",
        replicas: int | None = None,
        nginx: bool = True,
        scopes: tuple[str, ...] = AUTH_SCOPES,
        refresh_ms: int | None = 200,
        jwks: str | None = None,
        audience: str | None = None,
        issuer: str = AUTH_ISSUER,
        backend: str | None = None,
        key_dir: Path | None = None,
    ) -> None:
        self._ctl = cluster_ctl
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        base = cluster_ctl.load(cluster.state_dir)
        self.binary = base["binary"]
        self.backend = backend or base["backend"]
        if replicas is None:  # as many as the cluster has (one with the in-memory backend: nothing to share)
            replicas = len(base["replicas"]) if cluster_ctl.shared_backend(self.backend) else 1
        self.log_level = base["log_level"]
        self.key_dir = key_dir or state_dir / "keys"
        if not (self.key_dir / "jwks.json").exists():
            mint("init", str(self.key_dir), "--kid", "k1")
        self.issuer = issuer
        self.scopes = tuple(scopes)
        self.key = base64.b64encode(os.urandom(32)).decode()  # this cluster's own key ring
        self.nginx_proc: subprocess.Popen | None = None
        self.replicas: list[Endpoint] = []
        self.nginx: Endpoint | None = None
        self.jwks = jwks or str(self.key_dir / "jwks.json")
        last: Exception | None = None
        for _ in range(3):  # the nginx port is probed before the replicas (the audience names it)
            nginx_port = cluster_ctl.free_ports(1)[0] if nginx else 0
            self.audience = audience or f"http://127.0.0.1:{nginx_port}/mcp"
            args = ["--auth-jwks", self.jwks, "--auth-issuer", issuer, "--auth-audience", self.audience]
            for s in self.scopes:
                args += ["--auth-scope", s]
            if refresh_ms is not None:
                args += ["--auth-jwks-refresh-ms", str(refresh_ms)]
            self.args = args
            state = cluster_ctl.up(state_dir, self.binary, self.backend, replicas, [self.key], self.log_level, args, id_prefix=id_prefix)
            self.replicas = [Endpoint(r["id"], r["port"], Path(r["log"])) for r in state["replicas"]]
            if not nginx:
                return
            try:
                self.nginx_proc, port = cluster_ctl.start_nginx(state_dir, [r.port for r in self.replicas], nginx_port)
            except RuntimeError as exc:
                last = exc
                self.stop()
                continue
            self.nginx = Endpoint("auth-nginx", port, state_dir / "nginx-error.log")
            return
        raise RuntimeError(f"could not start the auth cluster's nginx: {last}")

    @property
    def resource_metadata(self) -> str:
        return resource_metadata_url(self.audience)

    @property
    def endpoints(self) -> list[Endpoint]:
        return self.replicas + ([self.nginx] if self.nginx else [])

    def logs(self) -> list[Path]:
        out = [r.log_path for r in self.replicas if r.log_path]
        if self.nginx is not None:
            out += [self.state_dir / "nginx-error.log", self.state_dir / "nginx-access.log"]
        return out

    def token(self, sub: str = "alice", *, scopes: tuple[str, ...] | list[str] | None = None, extra_scopes: tuple[str, ...] = (),
              args: tuple[str, ...] = (), iss: str | None = None, aud: str | None = None, kid: str | None = "k1",
              key_dir: Path | None = None) -> str:
        """A token for `sub`: by default valid for this cluster, with every required scope (`scopes` replaces
        them; `extra_scopes` adds some) as the `scope` claim, signed with key k1."""
        granted = list(self.scopes if scopes is None else scopes) + list(extra_scopes)
        cmd = ["token", str(key_dir or self.key_dir), "--iss", iss or self.issuer, "--aud", aud or self.audience, "--sub", sub]
        if granted:
            cmd += ["--scope", " ".join(granted)]
        if kid is not None:
            cmd += ["--kid", kid]
        return mint(*cmd, *args)

    def stop(self) -> None:
        if self.nginx_proc is not None:
            self._ctl.stop_nginx(self.nginx_proc)
            self.nginx_proc = None
        self._ctl.down(self.state_dir)
        for pidfile in self.state_dir.glob("*.pid"):  # stopped: nothing for a later `down` to signal
            pidfile.unlink(missing_ok=True)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
