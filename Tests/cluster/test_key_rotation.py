"""Key rotation across a rolling restart, with no failed request (docs/configuration.md, "Key ring and rotation").

While clients keep running MRTR `ask-twice` calls through nginx (each round may land on any replica), every
replica is restarted one at a time, three times over:

1. `--key OLD --key NEW`: still sealing with OLD, opening both;
2. `--key NEW --key OLD`: sealing with NEW, still opening OLD;
3. `--key NEW`: OLD retired (once no state sealed with OLD can still be in use).

No call may fail, the `requestState`s must switch from OLD's key id to NEW's, and each restart must be a
graceful drain (SIGTERM, exit within the grace period). Runs last in its venv (it leaves the cluster on NEW).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client

from cluster_helpers import upstream_names
from interop_wire import MODERN, TeeTransport

pytestmark = [pytest.mark.anyio, pytest.mark.restarts_replicas]

CLIENTS = 2


@contextlib.asynccontextmanager
async def _transport_without_keepalive(url: str, wire):
    """The validating tee (interop_wire.TeeTransport) on a connection per request. Taking a replica out of
    rotation reloads nginx, whose old worker closes its idle keep-alive client connections: a POST sent on one
    at that instant fails (httpx2.ReadError) before it reaches any replica, a hazard of the balancer's reload,
    not of the servers under test."""
    inner = httpx2.AsyncHTTPTransport(limits=httpx2.Limits(max_keepalive_connections=0))
    async with httpx2.AsyncClient(transport=TeeTransport(wire, inner), timeout=httpx2.Timeout(30.0, read=300.0)) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            yield streams


def describe(e) -> str:
    return (
        f"  {e.describe()} via {e.response_headers.get('x-upstream')}\n"
        f"    request: {json.dumps(e.request_body)[:1500]}\n"
        f"    response: {json.dumps(e.messages)[:1500]}{'' if e.messages else ' ' + repr(e.raw_tail[:500])}"
    )


def key_id(request_state: str) -> str:
    version, kid, _ = request_state.split(".", 2)
    assert version == "v1", request_state
    return kid


async def test_key_rotation_during_rolling_restarts_fails_no_request(cluster, connect):
    if len(cluster.replicas) < 2:
        pytest.skip("a rolling restart behind nginx needs at least two replicas")
    old_keys = cluster.keys(cluster.a)
    assert all(cluster.keys(r) == old_keys for r in cluster.replicas), "the replicas do not share one key ring"
    old = old_keys[0]
    new = base64.b64encode(os.urandom(32)).decode()
    steps = [[old, new], [new, old], [new]]

    # A rolling deploy takes a replica out of the balancer's rotation before stopping it (and puts it back while it
    # is still down: nginx meets `connection refused` and passes requests on). MCP_CLUSTER_RESTART_IN_ROTATION=1
    # sends SIGTERM to a replica that nginx still routes to instead (see README.md: requests that reached it just
    # before are dropped by the drain, and nginx does not pass on a POST it has already sent).
    restart = cluster.restart if os.environ.get("MCP_CLUSTER_RESTART_IN_ROTATION") == "1" else cluster.rolling_restart
    completed = [0] * CLIENTS
    failures: list[str] = []
    phase_marks: list[tuple[str, int]] = []  # (phase, number of exchanges when it began)
    stop = anyio.Event()
    mark = connect.wire.mark()

    async def client_loop(n: int) -> None:
        questions = []

        async def elicit(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
            questions.append(params.message)
            return types.ElicitResult(action="accept", content={"answer": f"c{n}-{len(questions)}"})

        while not stop.is_set():
            try:
                async with Client(
                    _transport_without_keepalive(cluster.nginx.url, connect.wire),
                    mode=MODERN,
                    cache=None,
                    read_timeout_seconds=15,
                    elicitation_callback=elicit,
                    client_info=types.Implementation(name="swift-mcp-cluster-rotation", version="1.0"),
                ) as c:
                    while not stop.is_set():
                        k = len(questions)
                        try:
                            with anyio.fail_after(20):
                                r = await c.call_tool("ask-twice", {})
                            want = f"first: c{n}-{k + 1}, second: c{n}-{k + 2}"
                            if r.is_error or not r.content or r.content[0].text != want:
                                failures.append(f"client {n} call {completed[n] + 1}: {r!r} (expected {want!r})")
                        except Exception as exc:  # noqa: BLE001 - every failure is reported below
                            failures.append(f"client {n} call {completed[n] + 1}: {type(exc).__name__}: {exc}")
                            questions[:] = questions[:k]  # the next call starts over
                        completed[n] += 1
            except Exception as exc:  # noqa: BLE001 - the client itself broke down (e.g. its transport failed)
                failures.append(f"client {n} after {completed[n]} calls: the client broke down: {exc!r}")
                completed[n] += 1

    async def calls_after(extra: int) -> None:
        """Waits until every client has completed `extra` more calls (so calls begun earlier are over)."""
        target = [x + extra for x in completed]
        with anyio.fail_after(30):
            while any(done < t for done, t in zip(completed, target)) and not failures:
                await anyio.sleep(0.02)

    t0 = time.monotonic()
    async with anyio.create_task_group() as tg:
        for n in range(CLIENTS):
            tg.start_soon(client_loop, n)
        phase_marks.append(("before", len(connect.wire.exchanges)))
        await calls_after(3)
        for step, keys in enumerate(steps, start=1):
            # Before retiring OLD: every call begun while some replica still sealed with OLD has finished.
            await calls_after(2)
            phase_marks.append((f"during step {step}", len(connect.wire.exchanges)))
            for replica in cluster.replicas:
                if failures:
                    break
                info = await anyio.to_thread.run_sync(restart, replica, keys)
                assert info["graceful"], f"{replica.name} did not exit within the grace period after SIGTERM"
                await calls_after(1)  # traffic reaches the restarted replica before the next one goes down
            phase_marks.append((f"after step {step}", len(connect.wire.exchanges)))
            await calls_after(3)
            if failures:
                break
        stop.set()
    elapsed = time.monotonic() - t0

    exchanges, _, _, _ = connect.wire.since(mark)
    if failures:
        failed = [e for e in exchanges if e.status != 200 or any("error" in m for m in e.messages if isinstance(m, dict))]
        pytest.fail(
            f"{len(failures)} failed request(s) during the rotation:\n" + "\n".join(failures[:20])
            + "\nfailed exchanges:\n" + "\n".join(describe(e) for e in failed[:10]),
            pytrace=False,
        )
    calls = [e for e in exchanges if e.rpc_method == "tools/call"]
    bad = [e.describe() for e in calls if e.status != 200]
    assert not bad, f"tools/call answered with a non-200 status: {bad}"

    # which key sealed each requestState, phase by phase
    def kids(start: int, end: int | None) -> set[str]:
        out = set()
        for e in connect.wire.exchanges[start:end]:
            if e.rpc_method != "tools/call" or not e.messages:
                continue
            result = e.messages[-1].get("result") or {}
            if result.get("resultType") == "input_required" and result.get("requestState"):
                out.add(key_id(result["requestState"]))
        return out

    bounds = [m for _, m in phase_marks] + [None]
    by_phase = {name: kids(bounds[i], bounds[i + 1]) for i, (name, _) in enumerate(phase_marks)}
    old_ids, new_ids = by_phase["before"], by_phase["after step 3"]
    assert len(old_ids) == 1 and len(new_ids) == 1 and old_ids != new_ids, f"requestState key ids by phase: {by_phase}"
    assert by_phase["after step 1"] == old_ids, f"with --key OLD --key NEW states must be sealed with OLD: {by_phase}"
    assert by_phase["after step 2"] == new_ids, f"with --key NEW --key OLD states must be sealed with NEW: {by_phase}"
    assert by_phase["during step 2"] == old_ids | new_ids, f"while step 2 rolls out, both keys seal: {by_phase}"
    served = upstream_names(cluster, calls)
    retried = [e.response_headers.get("x-upstream") for e in calls if "," in (e.response_headers.get("x-upstream") or "")]
    print(
        f"rotation: {sum(completed)} ask-twice calls ({len(calls)} rounds) in {elapsed:.1f} s; "
        f"key ids by phase {by_phase}; rounds by replica "
        + ", ".join(f"{r.name} {served.count(r.name)}" for r in cluster.replicas)
        + f"; {len(retried)} rounds passed on by nginx after a refused connection"
    )
    assert {r.name for r in cluster.replicas} <= set(served), f"some replica served no round: {served}"
