"""Tasks (`io.modelcontextprotocol/tasks`, protocol 2026-07-28) whose replica dies: raw HTTP, every request pinned to
one replica by its port.

A `long-job` task (declared safe to run again) is created directly on replica A and runs there; once it has made
progress A is killed (SIGKILL: no drain, its lease simply stops being renewed). The replica that notices A gone
first (the next `tasks/get` it serves after A's lease has expired) moves the task on, exactly once:

1. with re-running on (the cluster's replicas): the task is restarted there from the start (`working`,
   `statusMessage` "restarted on another replica (attempt 2)", then its steps again) and ends `completed` with
   `done: <steps>`. B and C are asked at the same moment, round after round, so both race to notice A gone: exactly
   one restart (attempt 2 only, one "took over" log line among all replicas, the steps restart once and only
   once), and the wait is bounded (lease + run time + margin);
2. with re-running off: the survivors B and C are restarted with `--no-task-rerun` (per-replica flags:
   `cluster.restart(replica, extra_args=[...])`, cluster_ctl.py) and restored afterwards, so that whichever
   replica notices A gone (on a read, or on its own) runs with it. Asked at the same moment round after round,
   they show the task `failed` with `error.code == -32010` and
   `error.data == {"reason": "replica_lost", "replica": A}` within one lease period (+ 2 s) of the kill, the same
   failure on both from then on, and nobody runs it again.

In both tests the takeover must not come before A's lease can have expired (a lease is renewed every third of its
period, so it outlives the process by at least two thirds of it). A is restarted at the end (finally).

The raw client, its validating tee (core schema plus the extension's task shapes) and the helpers come from
test_tasks_via_nginx.py; the module has its own recorder, and a test fails on any violation in what the replicas
sent during it. Timings are printed (`-s` or `-rA` shows them) as `replica-loss: ...` lines.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

import cluster_ctl
from cluster_helpers import Endpoint
from test_http_sse_raw import report_validated  # Tests/interop
from test_tasks_via_nginx import STEP, TERMINAL, Tasks, TasksWire, _iso, plain, text_of, validated_tasks_client

pytestmark = [pytest.mark.anyio, pytest.mark.restarts_replicas]

STEPS, INTERVAL_MS = 30, 100  # a 3 s job
POLL = 0.1  # seconds between polls (finer than the server's pollIntervalMs, for the timings)
RESTARTED = re.compile(r"^restarted on another replica \(attempt (\d+)\)$")
TOOK_OVER = "took over a task whose replica stopped"  # the replica's info log line (MCPServer+Tasks.swift)
DEFAULT_LEASE_MS = 5000  # mcp-demo-server's --replica-lease-ms default


@pytest.fixture(scope="module")
def loss_wire(request: pytest.FixtureRequest):
    wire = TasksWire()
    yield wire
    report_validated(request, wire, "tasks (test_tasks_replica_loss.py, core + extension schemas)")


@pytest.fixture
async def tasks(cluster, loss_wire: TasksWire):
    """The raw 2026-07-28 client of test_tasks_via_nginx.py on this module's validating tee; fails the test on any
    violation in what the replicas sent during it."""
    async with validated_tasks_client(cluster, loss_wire) as client:
        yield client


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def lease_seconds(cluster: Any) -> float:
    """The lease period of the cluster's replicas: their --replica-lease-ms, or the server's default."""
    args = list(cluster_ctl.load(cluster.state_dir).get("extra_args") or [])
    for k, arg in enumerate(args):
        if arg == "--replica-lease-ms" and k + 1 < len(args):
            return int(args[k + 1]) / 1000
        if arg.startswith("--replica-lease-ms="):
            return int(arg.split("=", 1)[1]) / 1000
    return DEFAULT_LEASE_MS / 1000


def logs_info(cluster: Any) -> bool:
    """Whether the replicas log at info or below (the "took over" line is at info)."""
    return cluster_ctl.load(cluster.state_dir).get("log_level", "info") in ("trace", "debug", "info")


def took_over_lines(paths: list[Path], task_id: str) -> list[str]:
    """The replicas' "took over a task whose replica stopped" log lines for `task_id`, as `<log>: <line>`."""
    lines = []
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        lines += [f"{path.name}: {line}" for line in text.splitlines() if TOOK_OVER in line and f"mcp.task={task_id}" in line]
    return lines


def step_of(task: dict[str, Any]) -> int | None:
    m = STEP.match(task.get("statusMessage") or "")
    if m is None:
        return None
    assert int(m.group(2)) == STEPS, task
    return int(m.group(1))


async def start_and_wait_for_progress(tasks: Tasks, a: Endpoint, at_least: int = 2) -> tuple[dict[str, Any], int]:
    """A long-job task created directly on A (it runs there), polled on A until it has done `at_least` steps;
    (the CreateTaskResult, the step seen)."""
    created, runner = await tasks.create(a, STEPS, INTERVAL_MS)
    assert runner == a.name, (runner, a)
    assert created["status"] == "working", created
    task, _ = await tasks.poll([a], created["taskId"], lambda t: (step_of(t) or 0) >= at_least, timeout=5, interval=0.05)
    assert task["status"] == "working", task
    return created, step_of(task) or 0


def kill(cluster: Any, replica: Endpoint) -> float:
    """SIGKILL of the replica; waits until it is gone (its port closed). Returns the monotonic time of the kill."""
    pid = cluster_ctl.pid_of(cluster.state_dir, replica.name)
    assert pid is not None and cluster_ctl.alive(pid), f"{replica} is not running (pid {pid})"
    t_kill = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while (cluster_ctl.alive(pid) or cluster_ctl.port_open(replica.port)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not cluster_ctl.alive(pid), f"{replica} (pid {pid}) still alive 5 s after SIGKILL"
    return t_kill


def restart_after_kill(cluster: Any, replica: Endpoint) -> None:
    pid = cluster_ctl.pid_of(cluster.state_dir, replica.name)
    if pid is not None and cluster_ctl.alive(pid) and cluster_ctl.healthy(replica.port):
        return  # the test failed before the kill
    cluster.restart(replica)


# --------------------------------------------------------------------------------------------------
# 1. re-running on: restarted on B or C, exactly once, and completed
# --------------------------------------------------------------------------------------------------


async def test_replica_loss_task_rerun_elsewhere_exactly_once(cluster, tasks):
    if len(cluster.replicas) < 3 or not cluster_ctl.shared_backend(cluster.backend):
        pytest.skip("needs three replicas on a shared backend")
    a, b, c = cluster.a, cluster.b, cluster.c
    lease = lease_seconds(cluster)
    run_s = STEPS * INTERVAL_MS / 1000
    bound = lease + run_s + 4.0  # kill -> completed: the lease, a whole run again, a margin
    try:
        with anyio.fail_after(bound + 15):
            created, step_at_kill = await start_and_wait_for_progress(tasks, a)
            task_id = created["taskId"]
            t_kill = await anyio.to_thread.run_sync(kill, cluster, a)
            # B and C asked at the same moment, round after round: both race to notice A gone
            seen: list[tuple[float, str, dict[str, Any]]] = []  # (seconds after the kill, replica, task)
            done: dict[str, Any] | None = None
            with anyio.move_on_after(bound - (time.monotonic() - t_kill)):
                while done is None:
                    round_: dict[str, tuple[float, dict[str, Any]]] = {}

                    async def ask(target: Endpoint) -> None:
                        task, by = await tasks.get(target, task_id)
                        assert by == target.name
                        round_[by] = (time.monotonic() - t_kill, task)

                    async with anyio.create_task_group() as tg:
                        tg.start_soon(ask, b)
                        tg.start_soon(ask, c)
                    for name in (b.name, c.name):
                        at, task = round_[name]
                        seen.append((at, name, task))
                        if task["status"] in TERMINAL:
                            done = task
                    if done is None:
                        await anyio.sleep(POLL)
            last = seen[-1] if seen else None
            assert done is not None, (
                f"the task of killed {a.name} was not completed elsewhere within {bound:.1f} s of the kill "
                f"(lease {lease:.1f} s + run {run_s:.1f} s + 4 s); last seen {last}"
            )
            seen.sort(key=lambda x: x[0])  # (B's and C's answers of one round, in the order they came)
            t_done = min(at for at, _, t in seen if t["status"] in TERMINAL)

            # the outcome: the job run again from the start, to its end
            assert done["status"] == "completed", done
            assert text_of(done["result"]) == f"done: {STEPS}", done
            assert done["result"].get("isError") in (None, False), done

            # exactly one takeover: one restart message (attempt 2), never a third attempt
            restarts = [(at, by, t) for at, by, t in seen if RESTARTED.match(t.get("statusMessage") or "")]
            assert restarts, (
                "no tasks/get showed 'restarted on another replica (attempt n)': "
                + str([(round(at, 2), by, t["status"], t.get("statusMessage")) for at, by, t in seen])
            )
            attempts = {int(RESTARTED.match(t["statusMessage"]).group(1)) for _, _, t in restarts}
            assert attempts == {2}, f"attempts seen: {sorted(attempts)} (one takeover means only attempt 2)"
            # The task's changes, in the order they were made (lastUpdatedAt): A's steps, the one restart, the steps
            # of the one new run from the start, the end. Two runs, or a second takeover, would show a second restart
            # message or steps that go back again.
            changes = sorted({(_iso(t["lastUpdatedAt"]), t["status"], t.get("statusMessage") or "") for _, _, t in seen})
            story = [(st, m) for _, st, m in changes]
            at_restart = [k for k, (_, m) in enumerate(story) if RESTARTED.match(m)]
            assert len(at_restart) == 1, f"expected one restart among the task's changes: {story}"
            k = at_restart[0]
            restarted_at = changes[k][0]
            pre, post = story[:k], story[k + 1:]
            pre_steps = [step_of({"statusMessage": m}) for _, m in pre]
            assert all(st == "working" for st, _ in pre) and all(x is not None for x in pre_steps), pre
            assert pre_steps == sorted(pre_steps) and all(x >= step_at_kill for x in pre_steps), pre
            assert len(set(pre_steps)) <= 2, f"A's steps went on long after the kill: {pre_steps}"
            post_steps = [step_of({"statusMessage": m}) for _, m in post]
            assert all(x is not None for x in post_steps) and post_steps == sorted(post_steps), f"after the restart: {post}"
            assert all(st == "working" for st, _ in post[:-1]) and post[-1][0] == "completed", post
            # when the takeover was first seen: the first answer showing the restart or a later change
            t_takeover, first_by = min((at, by) for at, by, t in seen if _iso(t["lastUpdatedAt"]) >= restarted_at)
            earliest = 2 * lease / 3 - 0.5
            assert t_takeover >= earliest, (
                f"taken over {t_takeover:.2f} s after the kill, before A's lease ({lease:.1f} s, renewed every third) "
                f"could have expired (not before {earliest:.2f} s)"
            )
            assert t_takeover <= lease + 2.0, f"taken over only {t_takeover:.2f} s after the kill (lease {lease:.1f} s + 2 s)"
            assert {t["createdAt"] for _, _, t in seen} == {created["createdAt"]}
            # the replicas' logs: exactly one "took over" line for the task, on B or C, naming A
            if logs_info(cluster):
                await anyio.sleep(0.2)  # (the log line is written right after the change that took it over)
                lines = took_over_lines([r.log_path for r in cluster.replicas if r.log_path], task_id)
                assert len(lines) == 1, f"expected exactly one takeover of {task_id} in the replicas' logs, got {lines}"
                assert lines[0].split(":", 1)[0] in (f"{b.name}.log", f"{c.name}.log"), lines
                assert f"mcp.peer={a.name}" in lines[0], lines
                taker = lines[0].split(":", 1)[0].removesuffix(".log")
            else:
                taker = first_by
            # settled: the same completed task on B and C, and nothing changes any more
            await anyio.sleep(3 * INTERVAL_MS / 1000)
            for target in (b, c):
                later, _ = await tasks.get(target, task_id)
                assert plain(later) == plain(done), (target.name, later, done)
            print(
                f"replica-loss: killed {a.name} at step {step_at_kill} of {STEPS}; kill -> takeover seen "
                f"{t_takeover:.2f} s (first shown by {first_by}, taken over by {taker}; lease {lease:.1f} s); "
                f"kill -> completed seen {t_done:.2f} s; {len(seen)} polls of {b.name} and {c.name}"
            )
    finally:
        await anyio.to_thread.run_sync(restart_after_kill, cluster, a)


# --------------------------------------------------------------------------------------------------
# 2. re-running off: failed with -32010 replica_lost, within one lease period
# --------------------------------------------------------------------------------------------------


NO_RERUN = ["--no-task-rerun"]


async def test_replica_loss_without_rerun_fails_with_replica_lost(cluster, tasks):
    if len(cluster.replicas) < 3 or not cluster_ctl.shared_backend(cluster.backend):
        pytest.skip("needs three replicas on a shared backend")
    a, b, c = cluster.a, cluster.b, cluster.c
    lease = lease_seconds(cluster)
    bound = lease + 2.0
    flagged: list[Endpoint] = []
    try:
        with anyio.fail_after(lease + bound + 40):
            # Every replica that may notice A gone (on a read, or on its own) runs with --no-task-rerun: the survivors
            # B and C, restarted with the flag (cluster.restart(..., extra_args=...)), restored after the test.
            for r in (b, c):
                flagged.append(r)
                await anyio.to_thread.run_sync(functools.partial(cluster.restart, r, extra_args=NO_RERUN))
            ready_at = time.monotonic()
            # A replica judges others dead only once its own lease has been renewed for a whole period: wait for it,
            # so that what is measured below is A's lease, not B's and C's start.
            await anyio.sleep(max(0.0, ready_at + lease + 0.3 - time.monotonic()))
            created, step_at_kill = await start_and_wait_for_progress(tasks, a)
            task_id = created["taskId"]
            t_kill = await anyio.to_thread.run_sync(kill, cluster, a)
            seen: list[tuple[float, str, dict[str, Any]]] = []  # (seconds after the kill, replica, task)
            moved = False
            with anyio.move_on_after(bound + 3.0):  # (polled a little past the bound, to report how late)
                while not moved:
                    round_: dict[str, tuple[float, dict[str, Any]]] = {}

                    async def ask(target: Endpoint) -> None:
                        task, by = await tasks.get(target, task_id)
                        assert by == target.name
                        round_[by] = (time.monotonic() - t_kill, task)

                    async with anyio.create_task_group() as tg:  # B and C at the same moment
                        tg.start_soon(ask, b)
                        tg.start_soon(ask, c)
                    for name in (b.name, c.name):
                        at, task = round_[name]
                        seen.append((at, name, task))
                        moved = moved or task["status"] != "working" or not STEP.match(task.get("statusMessage") or "")
                    if not moved:
                        await anyio.sleep(POLL)
            seen.sort(key=lambda x: x[0])
            assert moved, (
                f"{b.name} and {c.name} (--no-task-rerun) did not move the task of killed {a.name} on within "
                f"{bound + 3:.1f} s; last seen {seen[-1] if seen else None}"
            )
            t_failed, first_by, final = next((at, by, t) for at, by, t in seen
                                             if t["status"] != "working" or not STEP.match(t.get("statusMessage") or ""))
            assert final["status"] == "failed", (
                f"with --no-task-rerun the task of a dead replica must fail (-32010 replica_lost), got on {first_by}: {final}"
            )
            error = final["error"]
            assert error.get("code") == -32010, final
            assert error.get("data") == {"reason": "replica_lost", "replica": a.name}, final
            assert isinstance(error.get("message"), str) and error["message"], final
            assert "result" not in final, final
            # until then: still working, frozen at A's last steps; after it: the same failure on both replicas
            for at, by, t in seen:
                if at < t_failed:
                    assert t["status"] == "working" and (step_of(t) or 0) >= step_at_kill, (round(at, 2), by, t)
                else:
                    assert plain(t) == plain(final), (round(at, 2), by, t, final)
            earliest = 2 * lease / 3 - 0.5
            assert t_failed >= earliest, (
                f"failed {t_failed:.2f} s after the kill, before A's lease ({lease:.1f} s, renewed every third) "
                f"could have expired (not before {earliest:.2f} s)"
            )
            assert t_failed <= bound, f"failed only {t_failed:.2f} s after the kill (one lease, {lease:.1f} s, + 2 s)"
            # the failure is final: nothing changes it, on either replica, and nobody ran the task again
            await anyio.sleep(0.5)
            for target in (b, c):
                later, _ = await tasks.get(target, task_id)
                assert plain(later) == plain(final), (target.name, later, final)
            if logs_info(cluster):
                assert took_over_lines([r.log_path for r in cluster.replicas if r.log_path], task_id) == [], (
                    "a replica started the failed task again"
                )
            print(
                f"replica-loss: killed {a.name} at step {step_at_kill} of {STEPS}; kill -> failed (-32010 replica_lost) "
                f"seen {t_failed:.2f} s (first shown by {first_by}; {b.name} and {c.name} with --no-task-rerun; "
                f"lease {lease:.1f} s); {len(seen)} polls"
            )
    finally:
        with anyio.CancelScope(shield=True):
            for r in flagged:  # back to the cluster's own flags
                await anyio.to_thread.run_sync(functools.partial(cluster.restart, r, extra_args=[]))
            await anyio.to_thread.run_sync(restart_after_kill, cluster, a)
