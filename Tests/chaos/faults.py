"""The faults a phase injects while its clients run. Each one records its events in the phase's `Recorder` and
returns the facts the report needs.

* kill:  SIGKILL a random replica every `--kill-every` seconds, start it again (same port, same flags), wait for
         /readyz.
* roll:  a rolling restart, replica by replica, the way Kubernetes does it: out of nginx's upstream (`nginx -s
         reload`), SIGTERM, wait for the exit (its code must be 0), start, wait for /readyz, back in the upstream.
* store: redis: `redis-cli SHUTDOWN NOSAVE`, `--store-down` seconds later redis-server again on the same port (empty:
         it keeps nothing on disk); postgres (`--backend postgres`): `pg_ctl stop -m immediate`, `--store-down`
         seconds later started again on the same port with the same data directory (the data persists); then probe
         every replica until a request that needs the store succeeds on each.
* none:  nothing (a baseline).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import anyio
import httpx2

from cluster import Cluster, Store
from record import Recorder
from wire import COUNTER_URI, STATELESS_META, encode, request, stateless_headers


@dataclass
class FaultContext:
    cluster: Cluster
    store: Store | None      # the throwaway store the harness started (None: a backend URL given as it is)
    rec: Recorder
    rng: random.Random
    warmup: float           # seconds of traffic before the first fault
    duration: float         # the phase's planned length
    kill_every: float
    store_down: float
    drain_wait: float       # how long a SIGTERMed replica may take to exit before it is killed


async def sleep_until(rec: Recorder, t: float) -> None:
    await anyio.sleep(max(0.0, t - rec.now()))


async def kill(ctx: FaultContext) -> dict[str, Any]:
    c, rec = ctx.cluster, ctx.rec
    kills = []
    t_next = ctx.warmup
    while t_next <= ctx.duration - 2:
        await sleep_until(rec, t_next)
        r = ctx.rng.choice([r for r in c.replicas if r.running()])
        e = rec.event("kill", r.id, pid=r.pid)
        await c.kill(r)
        c.spawn(r)
        ready_s = await c.wait_ready(r)
        rec.event("ready", r.id, pid=r.pid, after_s=round(ready_s, 2))
        kills.append({"t": round(e.t, 3), "replica": r.id, "ready_after_s": round(ready_s, 2)})
        t_next = max(t_next + ctx.kill_every, rec.now() + 0.5)
    return {"kills": kills}


async def roll(ctx: FaultContext) -> dict[str, Any]:
    c, rec = ctx.cluster, ctx.rec
    await sleep_until(rec, ctx.warmup)
    steps = []
    for r in c.replicas:
        out_s = await c.set_in_rotation(r, False)
        rec.event("out_of_rotation", r.id, reload_s=round(out_s, 3))
        rec.event("sigterm", r.id, pid=r.pid)
        t0 = time.monotonic()
        code = await c.terminate(r, ctx.drain_wait)
        exited_s = time.monotonic() - t0
        rec.event("exited", r.id, code=code, after_s=round(exited_s, 2))
        c.spawn(r)
        ready_s = await c.wait_ready(r)
        rec.event("ready", r.id, pid=r.pid, after_s=round(ready_s, 2))
        in_s = await c.set_in_rotation(r, True)
        rec.event("in_rotation", r.id, reload_s=round(in_s, 3))
        steps.append({"replica": r.id, "exit_code": code, "exit_after_s": round(exited_s, 2), "ready_after_s": round(ready_s, 2)})
        await anyio.sleep(0.5)
    return {"steps": steps}


async def _store_answers(http: httpx2.AsyncClient, port: int) -> bool:
    """True when the replica on `port` serves a request that needs the store (resources/read demo://counter)."""
    msg = request("probe", "resources/read", {"uri": COUNTER_URI, "_meta": dict(STATELESS_META)})
    headers = stateless_headers("resources/read", COUNTER_URI)
    try:
        r = await http.post(f"http://127.0.0.1:{port}/mcp", content=encode(msg), headers=headers)
    except httpx2.RequestError:
        return False
    return r.status_code == 200 and "result" in r.text[:200]


async def store(ctx: FaultContext) -> dict[str, Any]:
    if ctx.store is None:
        raise RuntimeError("the store fault restarts the store the harness started; this run has none")
    c, rec, st = ctx.cluster, ctx.rec, ctx.store
    await sleep_until(rec, ctx.warmup)
    down = rec.event("store_down", port=st.port, data_persists=st.persistent)
    await anyio.to_thread.run_sync(st.go_down)
    await anyio.sleep(ctx.store_down)
    await st.come_back()
    up = rec.event("store_up", port=st.port)
    recovered: dict[str, float | None] = {r.id: None for r in c.replicas}
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(2.0), limits=httpx2.Limits(max_keepalive_connections=0)) as http:
        with anyio.move_on_after(30):
            while any(v is None for v in recovered.values()):
                for r in c.replicas:
                    if recovered[r.id] is None and await _store_answers(http, r.port):
                        recovered[r.id] = round(rec.now() - up.t, 3)
                await anyio.sleep(0.1)
    done = [v for v in recovered.values() if v is not None]
    recovery = max(done) if len(done) == len(recovered) else None
    rec.event("store_recovered", seconds=recovery, per_replica=recovered)
    return {"down_at": down.t, "up_at": up.t, "recovery_s": recovery, "per_replica_s": recovered,
            "store": st.kind, "how_down": st.how_down, "data_persists": st.persistent}


async def none(ctx: FaultContext) -> dict[str, Any]:
    return {}


FAULTS: dict[str, Callable[[FaultContext], Awaitable[dict[str, Any]]]] = {"kill": kill, "roll": roll, "store": store, "none": none}
