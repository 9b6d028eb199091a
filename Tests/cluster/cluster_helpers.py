"""Helpers of the cluster suite on top of the interop suite's raw legacy helpers (Tests/interop/legacy_http.py)."""

from __future__ import annotations

import copy
import json
from typing import Any

import anyio

from legacy_http import RawSession, read_stats

ELICIT = {"elicitation": {}}
ALL_CLIENT_CAPS = {"elicitation": {}, "sampling": {}, "roots": {"listChanged": True}}


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
