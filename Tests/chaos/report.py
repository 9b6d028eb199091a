"""From what a phase recorded to its numbers, its pass criteria and a per-second time series.

Notification accounting. The toucher's `touch` calls are the source; only those answered `ok` on their first attempt
count (a re-issued touch may have been published twice):

* listen: a touch is *expected* on a listen episode when it was sent after the episode's acknowledgement and answered
  before the episode ended (minus `EDGE` seconds when the episode was cut or ended by the server); a touch of the
  listener's lifetime that falls in no episode happened *during reconnect* and may legitimately be missed.
  missed = sum over episodes of max(0, expected - received).
* GET: a touch is expected on a session's standalone stream when it was sent after the subscription and the first
  priming event and answered before the stream closed: a resumed stream replays what it missed, so the touches raised
  while it was being re-opened (*during reconnect*, reported separately) are expected too.

The task client's long-job tasks (`Recorder.tasks`) are not calls: `task_summary`, `task_criteria` and `task_table`
judge and show them, in every fault: 0 lost (a task unknown to tasks/get after it was created; those created before a
store restart without persistence are *lost with the store*, reported, not failed), 0 hung, completed ones say
`done: <steps>`.

The HTTP+SSE (2024-11-05) clients' calls (kind "sse") have a table and criteria of their own (`sse_summary`,
`sse_criteria`); the main table and the criteria of the other clients leave them out, except the checks on transport
errors (kill) and on clear errors while the store is down, which judge every HTTP exchange.
"""

from __future__ import annotations

import math
from typing import Any

from record import ATTEMPT_CUT, ATTEMPT_REFUSED, ATTEMPT_RETRY, ATTEMPT_TRANSPORT, Call, Recorder
from wire import REPLICA_STOPPED

EDGE = 0.25      # seconds before a stream's end within which a touch may not have reached it yet
KILL_EPS = 0.1   # seconds of slack around a kill instant for "in flight at the kill"
RECOVERY_BOUND = 5.0


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


def is_32010(c: Call) -> bool:
    return c.outcome == "rpc_error" and c.error_code == REPLICA_STOPPED


def main_calls(rec: Recorder) -> list[Call]:
    """The calls of the session, stateless and touch clients (the HTTP+SSE ones are reported apart)."""
    return [c for c in rec.calls if c.kind != "sse"]


# --------------------------------------------------------------------------------------------------------------------
# Notifications
# --------------------------------------------------------------------------------------------------------------------


def _touch_windows(rec: Recorder) -> list[tuple[float, float]]:
    return [(t.t_sent, t.t_done) for t in rec.touches if t.ok and t.attempts == 1 and t.t_done is not None]


def listen_accounting(rec: Recorder) -> dict[str, int]:
    touches = _touch_windows(rec)
    out = {"expected": 0, "received": 0, "missed": 0, "during_reconnect": 0, "extra": 0, "episodes": len(rec.listens)}
    by_client: dict[str, list] = {}
    for ep in rec.listens:
        by_client.setdefault(ep.client, []).append(ep)
    for eps in by_client.values():
        acked = [ep for ep in eps if ep.t_ack is not None and ep.t_end is not None]
        if not acked:
            continue
        first, last = min(ep.t_ack for ep in acked), max(ep.t_end for ep in acked)
        expected = {id(ep): 0 for ep in acked}
        for sent, done in touches:
            home = next((ep for ep in acked if ep.t_ack <= sent and done <= ep.t_end - (0 if ep.end == "closed" else EDGE)), None)
            if home is not None:
                expected[id(home)] += 1
            elif first <= sent and done <= last:
                out["during_reconnect"] += 1
        for ep in acked:
            got = len(ep.received)
            out["expected"] += expected[id(ep)]
            out["received"] += got
            out["missed"] += max(0, expected[id(ep)] - got)
            out["extra"] += max(0, got - expected[id(ep)])
    return out


def get_accounting(rec: Recorder) -> dict[str, int]:
    touches = _touch_windows(rec)
    out = {"expected": 0, "received": 0, "missed": 0, "during_reconnect": 0, "duplicate_events": 0,
           "streams": len(rec.gets), "never_primed": 0, "resumes": 0}
    for g in rec.gets:
        out["resumes"] += g.resumes
        out["duplicate_events"] += g.duplicate_events
        if g.t_primed is None or g.t_end is None:
            out["never_primed"] += 1
            continue
        start, end = max(g.t_subscribed, g.t_primed), g.t_end - (0 if g.end == "closed" else EDGE)
        expected = [(s, d) for s, d in touches if s >= start and d <= end]
        during = [(s, d) for s, d in expected if any(s <= (ge if ge is not None else g.t_end) and d >= gs for gs, ge in g.gaps)]
        out["expected"] += len(expected)
        out["during_reconnect"] += len(during)
        out["received"] += len(g.received_ids)
        out["missed"] += max(0, len(expected) - len(g.received_ids))
    return out


def stream_recovery(rec: Recorder, t_up: float) -> dict[str, float | None]:
    """Seconds from the store's return until every listener had an acknowledged listen stream again, and every
    session client a primed GET stream again (None: some never did)."""
    def worst(firsts: dict[str, list[float]], clients: set[str]) -> float | None:
        if not clients or any(not firsts.get(c) for c in clients):
            return None
        return round(max(min(v) for v in firsts.values()) - t_up, 3)

    listen: dict[str, list[float]] = {}
    for ep in rec.listens:
        if ep.t_ack is not None and ep.t_ack >= t_up:
            listen.setdefault(ep.client, []).append(ep.t_ack)
    get: dict[str, list[float]] = {}
    for g in rec.gets:
        for t in [g.t_primed] + [gap[1] for gap in g.gaps]:
            if t is not None and t >= t_up:
                get.setdefault(g.client, []).append(t)
    return {"listen_s": worst(listen, {ep.client for ep in rec.listens}), "get_s": worst(get, {g.client for g in rec.gets})}


# --------------------------------------------------------------------------------------------------------------------
# Kills
# --------------------------------------------------------------------------------------------------------------------


def affected_by(rec: Recorder, t_kill: float, replica: str) -> list[tuple[Call, Any]]:
    """(call, attempt) for each attempt in flight on `replica` at the kill that it broke (transport error or cut)."""
    out = []
    for c in rec.calls:
        for a in c.attempts:
            if a.result not in (ATTEMPT_TRANSPORT, ATTEMPT_CUT):
                continue
            if a.t_start <= t_kill + KILL_EPS and (a.t_end is None or a.t_end >= t_kill - KILL_EPS) \
                    and (a.upstream is None or a.upstream == replica):
                out.append((c, a))
    return out


def kill_analysis(rec: Recorder) -> dict[str, Any]:
    kills = [e for e in rec.events if e.kind == "kill"]
    per_kill = []
    explained: set[int] = set()
    primed_cut: list[dict[str, Any]] = []
    for e in kills:
        hits = affected_by(rec, e.t, e.replica)
        explained.update(id(a) for _, a in hits)
        calls = {c.call_id: c for c, _ in hits}
        answered = [c.t_final for c in calls.values() if c.t_final is not None and c.outcome != "hung"]
        hung = [c.call_id for c in calls.values() if c.outcome == "hung"]
        for c, a in hits:  # the request's own stream, on the replica that ran its handler
            if c.kind == "session" and c.primed and a.result == ATTEMPT_CUT and a.kind == "post":
                good = (is_32010(c) and c.error_reason == "replica_lost" and c.error_replica == e.replica) or c.outcome == "ok"
                primed_cut.append({"call": c.call_id, "kill_t": round(e.t, 3), "replica": e.replica, "outcome": c.outcome,
                                   "error_code": c.error_code, "reason": c.error_reason, "error_replica": c.error_replica, "ok": good})
        per_kill.append({
            "t": round(e.t, 3), "replica": e.replica, "affected_calls": len(calls),
            "transport_errors": sum(1 for _, a in hits if a.result == ATTEMPT_TRANSPORT),
            "cut_streams": sum(1 for _, a in hits if a.result == ATTEMPT_CUT),
            "last_answer_after_s": None if hung else (round(max(answered) - e.t, 3) if answered else 0.0),
            "hung": hung,
        })
    stray = [
        {"call": c.call_id, "t_start": round(a.t_start, 3), "t_end": round(a.t_end or -1, 3), "upstream": a.upstream, "detail": a.detail[:120]}
        for c in rec.calls for a in c.attempts if a.result == ATTEMPT_TRANSPORT and id(a) not in explained
    ]
    return {"kills": per_kill, "stray_transport_errors": stray, "primed_session_streams_cut": primed_cut}


# --------------------------------------------------------------------------------------------------------------------
# Summary, time series, criteria
# --------------------------------------------------------------------------------------------------------------------


def summarize(rec: Recorder) -> dict[str, Any]:
    calls = main_calls(rec)
    attempts = [a for c in calls for a in c.attempts]
    ok_latency = [(c.t_final - c.t_sent) * 1000 for c in calls if c.outcome == "ok" and c.method.startswith("tools/call")]
    outcomes: dict[str, int] = {}
    for c in calls:
        outcomes[c.outcome or "none"] = outcomes.get(c.outcome or "none", 0) + 1
    e32010 = [c for c in calls if is_32010(c)]
    return {
        "requests": len(calls),
        "by_kind": {k: sum(1 for c in calls if c.kind == k) for k in ("session", "stateless", "touch")},
        "http_attempts": len(attempts),
        "final_responses": sum(1 for c in calls if c.finals > 0),
        "ok": outcomes.get("ok", 0),
        "outcomes": outcomes,
        "duplicates": sum(1 for c in calls if c.finals > 1),
        "hung": outcomes.get("hung", 0),
        "e32010": len(e32010),
        "e32010_reasons": {r: sum(1 for c in e32010 if c.error_reason == r) for r in sorted({str(c.error_reason) for c in e32010})},
        "transport_errors": sum(1 for a in attempts if a.result == ATTEMPT_TRANSPORT),
        "other_errors": sum(1 for c in calls if c.outcome in ("refused", "lost", "bad_result")
                            or (c.outcome == "rpc_error" and not is_32010(c))),
        "cut_streams": sum(1 for a in attempts if a.result == ATTEMPT_CUT),
        "resumes": sum(1 for a in attempts if a.kind == "resume"),
        "reissues": sum(1 for a in attempts if a.kind == "reissue"),
        "elicitation_answers": dict(rec.answers),
        "reused_server_request_ids": rec.reused_ids,
        "latency_ms": {"p50": _r(percentile(ok_latency, 50)), "p99": _r(percentile(ok_latency, 99)), "n": len(ok_latency)},
        "notifications": {"listen": listen_accounting(rec), "get": get_accounting(rec), "touches": len(rec.touches),
                          "touches_ok": sum(1 for t in rec.touches if t.ok)},
        "sse": sse_summary(rec),
        "tasks": task_summary(rec),
    }


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def timeseries(rec: Recorder) -> dict[str, Any]:
    end = max([c.t_final or 0 for c in rec.calls] + [e.t for e in rec.events] + [1.0])
    n = int(math.ceil(end)) + 1
    series = {k: [0] * n for k in ("ok", "errors", "e32010", "transport", "cuts", "hung")}
    for c in rec.calls:
        if c.t_final is None:
            continue
        b = min(n - 1, int(c.t_final))
        if c.outcome == "ok":
            series["ok"][b] += 1
        elif is_32010(c):
            series["e32010"][b] += 1
        elif c.outcome == "hung":
            series["hung"][min(n - 1, int(c.t_sent))] += 1  # where it was sent
        elif c.outcome != "transport":  # those are counted per attempt below
            series["errors"][b] += 1
        for a in c.attempts:
            if a.result in (ATTEMPT_TRANSPORT, ATTEMPT_CUT) and a.t_end is not None:
                series["transport" if a.result == ATTEMPT_TRANSPORT else "cuts"][min(n - 1, int(a.t_end))] += 1
    return {"seconds": list(range(n)), **series,
            "events": [{"t": round(e.t, 3), "kind": e.kind, "replica": e.replica} for e in rec.events]}


def _clear(a: Any) -> bool:
    """A failed attempt that told the client clearly what happened: a 503 with Retry-After, or a JSON-RPC error."""
    if a.status == 503:
        return a.retry_after is not None
    return a.result == ATTEMPT_REFUSED and a.rpc_error is not None


def criteria(fault: str, rec: Recorder, summary: dict[str, Any], facts: dict[str, Any], end_state: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []

    def check(name: str, passed: bool, detail: str) -> None:
        checks.append({"fault": fault, "name": name, "passed": bool(passed), "detail": detail})

    calls = main_calls(rec)
    hung = [c.call_id for c in calls if c.outcome == "hung"]
    dups = [c.call_id for c in calls if c.finals > 1]
    if fault in ("kill", "none"):
        ka = kill_analysis(rec)
        facts["analysis"] = ka
        check("0 hung requests", not hung, f"{len(hung)} hung {hung[:5]}")
        check("0 duplicated final responses", not dups, f"{len(dups)} duplicated {dups[:5]}")
        lost = [c.call_id for c in calls if c.outcome == "lost"]
        check("0 silently lost requests", not lost, f"{len(lost)} lost {lost[:5]}")
        stray = ka["stray_transport_errors"]
        check("transport errors only for requests in flight on the killed replica", not stray,
              f"{summary['transport_errors'] + summary['sse']['post_errors']} transport errors, "
              f"{len(stray)} not explained by a kill {stray[:3]}")
        if fault == "kill":
            bad = [p for p in ka["primed_session_streams_cut"] if not p["ok"]]
            check("every primed session stream cut by a kill ends with -32010 replica_lost", not bad,
                  f"{len(ka['primed_session_streams_cut'])} cut, {len(bad)} without it {bad[:3]}")
        if fault == "none":
            failed = [c.call_id for c in calls if c.outcome != "ok"]
            check("0 failed calls", not failed, f"{len(failed)} failed {failed[:5]}")
    elif fault == "roll":
        failed = [f"{c.call_id} {c.method} {c.outcome}: {c.detail[:80]}" for c in calls if c.outcome not in ("ok", "hung")]
        check("0 failed calls (clients resume or re-issue)", not failed, f"{len(failed)} failed {failed[:3]}")
        check("0 hung requests", not hung, f"{len(hung)} hung {hung[:5]}")
        codes = {s["replica"]: s["exit_code"] for s in facts.get("steps", [])}
        check("every replica exits 0 on SIGTERM", len(codes) == end_state["replicas"] and all(v == 0 for v in codes.values()), f"exit codes {codes}")
    elif fault == "store":
        lo, hi = facts.get("down_at", 0), facts.get("up_at", 0) + min(facts.get("recovery_s") or RECOVERY_BOUND, RECOVERY_BOUND)
        unclear = [
            f"{c.call_id} {c.method}: {a.result} HTTP {a.status} {a.detail[:80]}"
            for c in rec.calls for a in c.attempts
            if a.result in (ATTEMPT_TRANSPORT, ATTEMPT_REFUSED, ATTEMPT_RETRY) and a.t_end is not None
            and a.t_start <= hi and a.t_end >= lo and not _clear(a)
        ] + [f"{c} hung" for c in hung]
        check("clear errors while the store is down (503 + Retry-After or JSON-RPC errors)", not unclear,
              f"{len(unclear)} unclear {unclear[:3]}")
        check("no replica crashed", end_state["all_alive"], f"running at the end: {end_state['alive']}")
        facts["streams_back_after"] = stream_recovery(rec, facts.get("up_at", 0))
        rs = facts.get("recovery_s")
        check(f"requests succeed again within {RECOVERY_BOUND:.0f} s of the store's return", rs is not None and rs <= RECOVERY_BOUND,
              f"recovered after {rs} s (per replica {facts.get('per_replica_s')})")
    checks.extend(sse_criteria(fault, rec, summary["sse"]))
    checks.extend(task_criteria(fault, summary["tasks"]))
    return checks


# --------------------------------------------------------------------------------------------------------------------
# Tasks (long-job with the io.modelcontextprotocol/tasks extension)
# --------------------------------------------------------------------------------------------------------------------


def _empty_store_return(rec: Recorder) -> float | None:
    """When a store that came back empty (a restart without persistence) returned, if it did in this phase."""
    down = [e for e in rec.events if e.kind == "store_down" and e.detail.get("data_persists") is False]
    up = [e.t for e in rec.events if e.kind == "store_up" and down and e.t >= down[0].t]
    return up[0] if up else None


def task_summary(rec: Recorder) -> dict[str, Any]:
    tasks = rec.tasks
    t_empty = _empty_store_return(rec)
    created = [t for t in tasks if t.task_id is not None]
    lost = [t for t in tasks if t.outcome == "lost"]
    with_store = [t for t in lost if t_empty is not None and t.t_created is not None and t.t_created <= t_empty]
    failed = [t for t in tasks if t.outcome == "failed"]
    not_created = [t for t in tasks if t.outcome == "not_created"]
    run_s = [t.t_end - t.t_created for t in tasks if t.outcome == "completed" and t.t_end is not None and t.t_created is not None]
    ids = {id(t) for t in with_store}
    failures: dict[str, int] = {}
    for t in tasks:
        for k, v in t.poll_failures.items():
            failures[k] = failures.get(k, 0) + v

    def runner_hit(t: Any, kind: str) -> bool:
        """Whether the replica that created (and first ran) the task was killed or sent SIGTERM while it ran."""
        return t.t_created is not None and any(e.kind == kind and e.replica == t.created_by and t.t_created <= e.t <= (t.t_end or 1e9)
                                               for e in rec.events)

    def brief(t: Any) -> dict[str, Any]:
        return {"task": t.task_id, "outcome": t.outcome, "steps": t.steps, "interval_ms": t.interval_ms, "created_t": _r3(t.t_created),
                "created_by": t.created_by, "end_t": _r3(t.t_end), "status": t.status, "served_by": t.served_by,
                "error_code": t.error_code, "detail": t.detail[:200]}

    return {
        "started": len(tasks),
        "created": len(created),
        "completed": sum(1 for t in tasks if t.outcome == "completed"),
        "bad_result": sum(1 for t in tasks if t.outcome == "bad_result"),
        "failed": len(failed),
        "failed_by_code": {str(c): sum(1 for t in failed if t.error_code == c) for c in sorted({t.error_code for t in failed}, key=str)},
        "cancelled": sum(1 for t in tasks if t.outcome == "cancelled"),
        "lost": len(lost) - len(with_store),
        "lost_with_store": len(with_store),
        "hung": sum(1 for t in tasks if t.outcome == "hung"),
        "create_hung": sum(1 for t in tasks if t.outcome == "create_hung"),
        "not_created": len(not_created),
        "not_created_by_code": {str(c): sum(1 for t in not_created if t.error_code == c) for c in sorted({t.error_code for t in not_created}, key=str)},
        "create_reissues": sum(max(0, t.create_attempts - 1) for t in tasks),
        "polls": sum(t.polls for t in tasks),
        "poll_retries": sum(t.poll_retries for t in tasks),
        "poll_failures": failures,
        "runner_killed": sum(1 for t in created if runner_hit(t, "kill")),
        "runner_drained": sum(1 for t in created if runner_hit(t, "sigterm")),
        "served_by_several": sum(1 for t in created if len(set(t.served_by)) > 1),
        "run_s": {"p50": _r3(percentile(run_s, 50)), "p99": _r3(percentile(run_s, 99)), "n": len(run_s)},
        "problems": [brief(t) for t in tasks if t.outcome in ("lost", "hung", "create_hung", "bad_result", "failed", "not_created")
                     and id(t) not in ids][:20],
        "lost_with_store_tasks": [brief(t) for t in with_store][:10],
    }


def _r3(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def task_criteria(fault: str, s: dict[str, Any]) -> list[dict[str, Any]]:
    if not s["started"]:
        return []
    checks: list[dict[str, Any]] = []

    def check(name: str, passed: bool, detail: str) -> None:
        checks.append({"fault": fault, "name": f"tasks: {name}", "passed": bool(passed), "detail": detail})

    probs = s["problems"]
    lost = [f"{p['task']} (created {p['created_t']} s by {p['created_by']}, unknown at {p['end_t']} s)" for p in probs if p["outcome"] == "lost"]
    check("0 lost (unknown to tasks/get after it was created)", s["created"] > 0 and s["lost"] == 0,
          f"{s['created']} created, {s['completed']} completed, {s['lost']} lost"
          + (f", {s['lost_with_store']} lost with the store (it restarted without persistence: expected, not judged)"
             if s["lost_with_store"] else "") + (f" {lost[:3]}" if lost else "") + ("" if s["created"] else " (none created)"))
    hung = [f"{p['task']} {p['detail'][:80]}" for p in probs if p["outcome"] in ("hung", "create_hung")]
    check("0 hung (terminal within its run time + the hang timeout)", s["hung"] == 0 and s["create_hung"] == 0,
          f"{s['hung']} hung, {s['create_hung']} creations unanswered {hung[:3]}")
    bad = [f"{p['task']}: {p['detail'][:100]}" for p in probs if p["outcome"] == "bad_result"]
    check("completed tasks have the text done: <steps>", s["bad_result"] == 0, f"{s['completed']} completed, {s['bad_result']} with another text {bad[:3]}")
    return checks


def task_table(phases: list[dict[str, Any]]) -> str:
    head = ["fault", "started", "created", "runner killed/drained", "completed", "failed", "cancelled", "lost",
            "lost w/ store", "hung", "not created", "bad text", "get retries", "run p50 s", "run p99 s"]
    rows = [head]
    for p in phases:
        s = p["summary"].get("tasks") or {}
        if not s.get("started"):
            continue
        codes = "/".join(f"{n}x{c}" for c, n in s["failed_by_code"].items())
        nc = "/".join(f"{n}x{c}" for c, n in s["not_created_by_code"].items() if c != "None")
        rows.append([p["fault"], s["started"], s["created"], f"{s['runner_killed']}/{s['runner_drained']}", s["completed"], f"{s['failed']}" + (f" ({codes})" if codes else ""),
                     s["cancelled"], s["lost"], s["lost_with_store"], s["hung"] + s["create_hung"],
                     f"{s['not_created']}" + (f" ({nc})" if nc else ""), s["bad_result"], s["poll_retries"],
                     s["run_s"]["p50"], s["run_s"]["p99"]])
    return "" if len(rows) == 1 else _render(rows)


def task_findings(p: dict[str, Any]) -> list[str]:
    s = p["summary"].get("tasks") or {}
    if not s.get("started"):
        return []
    f, out = p["fault"], []
    if s["failed"]:
        out.append(f"[{f}] tasks: {s['failed']} failed {s['failed_by_code']}: "
                   f"{[(x['task'], x['detail'][:100]) for x in s['problems'] if x['outcome'] == 'failed'][:3]}")
    if s["not_created"]:
        out.append(f"[{f}] tasks: {s['not_created']} long-job call(s) not answered with a CreateTaskResult "
                   f"{s['not_created_by_code']}: {[x['detail'][:100] for x in s['problems'] if x['outcome'] == 'not_created'][:3]}")
    if s["cancelled"]:
        out.append(f"[{f}] tasks: {s['cancelled']} cancelled (the client never cancels)")
    if s["poll_failures"]:
        out.append(f"[{f}] tasks: tasks/get tried again after {s['poll_failures']}")
    return out


# --------------------------------------------------------------------------------------------------------------------
# HTTP+SSE clients (2024-11-05)
# --------------------------------------------------------------------------------------------------------------------

SSE_FINAL = ("ok", "rpc_error", "bad_result")  # outcomes that are an answer on the stream
SSE_DROP_BEFORE_KILL = 0.25  # seconds a stream may seem to drop before the kill event is recorded (it is recorded first)
SSE_DROP_AFTER_KILL = 3.0    # seconds after a kill within which the streams its replica held must have dropped


def _sse_calls(rec: Recorder) -> list[Call]:
    return [c for c in rec.calls if c.kind == "sse"]


def _accepted_at(c: Call) -> float | None:
    """When the call's POST got 202 (None: it did not)."""
    a = c.attempts[0] if c.attempts else None
    return a.t_end if a is not None and a.status == 202 else None


def _holder_sigterm(rec: Recorder, c: Call) -> float | None:
    """When the replica holding the call's stream was sent SIGTERM (roll), if it was while the stream was open."""
    if c.stream is None:
        return None
    ms = rec.sse_streams[c.stream]
    for e in rec.events:
        if e.kind == "sigterm" and e.replica == ms.upstream and e.t >= ms.t_open and (ms.t_end is None or e.t <= ms.t_end):
            return e.t
    return None


def _stream_drop_explained(rec: Recorder, c: Call) -> bool:
    """Whether the stream the call was lost with dropped because its replica was killed."""
    if c.stream is None:
        return False
    ms = rec.sse_streams[c.stream]
    if ms.upstream is None or ms.t_end is None:
        return False
    return any(e.kind == "kill" and e.replica == ms.upstream
               and ms.t_end - SSE_DROP_AFTER_KILL <= e.t <= ms.t_end + SSE_DROP_BEFORE_KILL for e in rec.events)


def sse_summary(rec: Recorder) -> dict[str, Any]:
    calls = _sse_calls(rec)
    outcomes: dict[str, int] = {}
    for c in calls:
        outcomes[c.outcome or "none"] = outcomes.get(c.outcome or "none", 0) + 1
    e32010 = [c for c in calls if is_32010(c)]
    refused = [c for c in calls if c.outcome == "refused"]
    accepted = [c for c in calls if _accepted_at(c) is not None]
    unanswered = [c for c in accepted if c.outcome not in SSE_FINAL]
    ok_latency = [(c.t_final - c.t_sent) * 1000 for c in calls if c.outcome == "ok" and c.method.startswith("tools/call")]
    post_s = [a.t_end - a.t_start for c in calls for a in c.attempts if a.t_end is not None]
    streams = rec.sse_streams
    ends: dict[str, int] = {}
    for ms in streams:
        ends[ms.end or "open"] = ends.get(ms.end or "open", 0) + 1
    short_progress = [c.call_id for c in calls if c.outcome == "ok" and c.expected_progress is not None
                      and c.progress != c.expected_progress]
    return {
        "clients": len({c.client for c in calls}),
        "sessions": len(streams),
        "sessions_initialized": sum(1 for ms in streams if ms.initialized),
        "stream_ends": ends,
        "requests": len(calls),
        "tool_calls": sum(1 for c in calls if c.method.startswith("tools/call")),
        "finals": sum(1 for c in calls if c.outcome in SSE_FINAL),
        "ok": outcomes.get("ok", 0),
        "outcomes": outcomes,
        "e32010": len(e32010),
        "e32010_reasons": {r: sum(1 for c in e32010 if c.error_reason == r) for r in sorted({str(c.error_reason) for c in e32010})},
        "lost_with_stream": outcomes.get("lost_with_stream", 0),
        "refused": len(refused),
        "refused_by_status": {st: sum(1 for c in refused if c.attempts and c.attempts[0].status == st)
                              for st in sorted({c.attempts[0].status for c in refused if c.attempts and c.attempts[0].status})},
        "post_errors": sum(1 for c in calls for a in c.attempts if a.result == ATTEMPT_TRANSPORT),
        "hung": outcomes.get("hung", 0),
        "duplicates": sum(1 for c in calls if c.finals > 1),
        "other_errors": sum(1 for c in calls if c.outcome == "bad_result" or (c.outcome == "rpc_error" and not is_32010(c))),
        "accepted": len(accepted),
        "accepted_without_final": len(unanswered),
        "accepted_without_final_calls": [
            {"call": c.call_id, "method": c.method, "outcome": c.outcome, "accepted_t": round(_accepted_at(c) or 0, 3),
             "stream": c.stream, "holder": rec.sse_streams[c.stream].upstream if c.stream is not None else None,
             "holder_sigterm_t": _holder_sigterm(rec, c), "runner": c.attempts[0].upstream, "detail": c.detail[:160]}
            for c in unanswered],
        "late_answers": sum(c.late_answers for c in calls),
        "unknown_responses": sum(ms.unknown_responses for ms in streams),
        "streams_closed_by_client_after_404": [ms.session[:24] for ms in streams if "after a POST" in ms.detail],
        "countdowns_missing_progress": short_progress,
        "latency_ms": {"p50": _r(percentile(ok_latency, 50)), "p99": _r(percentile(ok_latency, 99)), "n": len(ok_latency)},
        "post_max_s": round(max(post_s), 3) if post_s else None,
        "elicitation_answers": dict(rec.sse_answers),
    }


def sse_criteria(fault: str, rec: Recorder, s: dict[str, Any]) -> list[dict[str, Any]]:
    calls = _sse_calls(rec)
    if not calls:
        return []
    checks: list[dict[str, Any]] = []

    def check(name: str, passed: bool, detail: str) -> None:
        checks.append({"fault": fault, "name": f"HTTP+SSE: {name}", "passed": bool(passed), "detail": detail})

    hung = [f"{c.call_id} {c.method}: {c.detail[:100]}" for c in calls if c.outcome == "hung"]
    dups = [f"{c.call_id} {c.method} ({c.finals} answers)" for c in calls if c.finals > 1]
    check("0 hung calls", not hung, f"{len(hung)} hung of {len(calls)} {hung[:3]}")
    check("0 duplicated answers", not dups, f"{len(dups)} duplicated {dups[:3]}")
    if fault == "kill":
        lost = [c for c in calls if c.outcome == "lost_with_stream"]
        stray = [f"{c.call_id} stream {c.stream} held by {rec.sse_streams[c.stream].upstream if c.stream is not None else '?'}"
                 f" ended {rec.sse_streams[c.stream].end if c.stream is not None else '?'}" for c in lost if not _stream_drop_explained(rec, c)]
        check("calls are lost with their stream only when the stream's replica is killed", not stray,
              f"{len(lost)} lost with their stream, {len(stray)} not explained by a kill {stray[:3]}")
        kills = [e for e in rec.events if e.kind == "kill"]
        bad = [f"{c.call_id}: {c.error_reason} {c.error_replica}" for c in calls if is_32010(c)
               and not (c.error_reason == "replica_lost" and any(e.replica == c.error_replica and e.t <= (c.t_final or 0) for e in kills))]
        check("every -32010 is replica_lost naming a replica killed before it", not bad,
              f"{s['e32010']} -32010, {len(bad)} not {bad[:3]}")
    elif fault == "roll":
        un = s["accepted_without_final_calls"]
        before = [u for u in un if u["holder_sigterm_t"] is None or u["accepted_t"] < u["holder_sigterm_t"]]
        check("every call accepted (202) is answered on its stream: a drain loses no accepted request's answer", not un,
              f"{s['accepted']} accepted, {len(un)} without an answer ({len(before)} accepted before their stream's "
              f"replica got SIGTERM) {[(u['call'], u['outcome'], u['holder']) for u in un[:3]]}")
    elif fault == "none":
        failed = [f"{c.call_id} {c.method} {c.outcome}: {c.detail[:80]}" for c in calls if c.outcome != "ok"]
        check("0 failed calls", not failed, f"{len(failed)} failed {failed[:3]}")
    return checks


def sse_table(phases: list[dict[str, Any]]) -> str:
    head = ["fault", "sessions", "calls", "finals", "ok", "-32010", "lost w/ stream", "refused", "POST errors", "hung",
            "dup", "202 w/o final", "p50 ms", "p99 ms", "max POST s"]
    rows = [head]
    for p in phases:
        s = p["summary"].get("sse") or {}
        if not s.get("requests"):
            continue
        refused = "/".join(f"{n}x{st}" for st, n in s["refused_by_status"].items())
        rows.append([
            p["fault"], s["sessions"], s["requests"], s["finals"], s["ok"], s["e32010"], s["lost_with_stream"],
            f"{s['refused']}" + (f" ({refused})" if refused else ""), s["post_errors"], s["hung"], s["duplicates"],
            s["accepted_without_final"], s["latency_ms"]["p50"], s["latency_ms"]["p99"], s["post_max_s"],
        ])
    if len(rows) == 1:
        return ""
    return _render(rows)


def _render(rows: list[list[Any]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def sse_findings(p: dict[str, Any]) -> list[str]:
    s = p["summary"].get("sse") or {}
    if not s.get("requests"):
        return []
    out = []
    f = p["fault"]
    if s["late_answers"]:
        out.append(f"[{f}] HTTP+SSE: {s['late_answers']} answer(s) came on the stream after the call had ended otherwise "
                   "(a POST refused or failed, or hung)")
    if s["unknown_responses"]:
        out.append(f"[{f}] HTTP+SSE: {s['unknown_responses']} response(s) on a stream for an id no call of the session had")
    if s["streams_closed_by_client_after_404"]:
        out.append(f"[{f}] HTTP+SSE: {len(s['streams_closed_by_client_after_404'])} stream(s) still open long after their "
                   f"session's POST got 404, closed by the client: {s['streams_closed_by_client_after_404'][:3]}")
    if s["countdowns_missing_progress"]:
        out.append(f"[{f}] HTTP+SSE: {len(s['countdowns_missing_progress'])} countdown(s) answered ok with a number of "
                   f"progress notifications other than their steps: {s['countdowns_missing_progress'][:3]}")
    if s["elicitation_answers"]["refused"]:
        out.append(f"[{f}] HTTP+SSE: {s['elicitation_answers']['refused']} elicitation answer(s) refused")
    if s["accepted_without_final"] and f != "roll":
        by = {}
        for u in s["accepted_without_final_calls"]:
            by[u["outcome"]] = by.get(u["outcome"], 0) + 1
        out.append(f"[{f}] HTTP+SSE: {s['accepted']} calls accepted (202), {s['accepted_without_final']} without an answer "
                   f"on the stream: {by}")
    return out


# --------------------------------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------------------------------


def table(phases: list[dict[str, Any]]) -> str:
    head = ["fault", "requests", "finals", "ok", "dup", "hung", "-32010", "transport", "other err", "cuts",
            "listen exp/rcv/miss (reconn)", "GET exp/rcv/miss (reconn)", "p50 ms", "p99 ms", "kill->answer s"]
    rows = [head]
    for p in phases:
        s = p["summary"]
        li, ge = s["notifications"]["listen"], s["notifications"]["get"]
        kills = (p["facts"].get("analysis") or {}).get("kills") or []
        worst = [k["last_answer_after_s"] for k in kills]
        k2a = "-" if not kills else ("hung" if any(w is None for w in worst) else f"{max(worst):.2f}")
        rows.append([
            p["fault"], s["requests"], s["final_responses"], s["ok"], s["duplicates"], s["hung"], s["e32010"],
            s["transport_errors"], s["other_errors"], s["cut_streams"],
            f"{li['expected']}/{li['received']}/{li['missed']} ({li['during_reconnect']})",
            f"{ge['expected']}/{ge['received']}/{ge['missed']} ({ge['during_reconnect']})",
            s["latency_ms"]["p50"], s["latency_ms"]["p99"], k2a,
        ])
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
    lines = ["  ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def findings(phases: list[dict[str, Any]]) -> list[str]:
    """What the criteria do not judge but a reader should see."""
    out = []
    for p in phases:
        s = p["summary"]
        reused = s["reused_server_request_ids"]
        if reused:
            out.append(f"[{p['fault']}] {len(reused)} server-to-client request id(s) reused within a session "
                       f"(the spec forbids it), e.g. {reused[:2]}")
        if s["notifications"]["get"]["duplicate_events"]:
            out.append(f"[{p['fault']}] GET streams delivered {s['notifications']['get']['duplicate_events']} event id(s) twice")
        back = p["facts"].get("streams_back_after")
        if back:
            out.append(f"[{p['fault']}] after the store's return, every listen stream was acknowledged again after "
                       f"{back['listen_s']} s and every GET stream primed again after {back['get_s']} s "
                       f"(requests: {p['facts'].get('recovery_s')} s)")
        for rid, exits in p.get("exits", {}).items():
            for e in exits:
                if e["how"] == "sigterm" and e["code"] != 0:
                    out.append(f"[{p['fault']}] {rid} " + ("did not exit" if e["code"] is None else f"exited {e['code']}")
                               + f" {e['s']} s after SIGTERM" + (" (killed)" if e["code"] is None else ""))
        if p["end_state"].get("trimmed_logs"):
            out.append(f"[{p['fault']}] replica logs over 16 MiB were trimmed: {p['end_state']['trimmed_logs']}")
        if s["elicitation_answers"]["refused"]:
            out.append(f"[{p['fault']}] {s['elicitation_answers']['refused']} elicitation answer(s) refused")
        out.extend(sse_findings(p))
        out.extend(task_findings(p))
    return out


def criteria_text(checks: list[dict[str, Any]]) -> str:
    return "\n".join(f"  {'PASS' if c['passed'] else 'FAIL'}  [{c['fault']}] {c['name']}: {c['detail']}" for c in checks)
