"""The chaos harness: replicas of mcp-demo-server behind a round-robin nginx, a throwaway redis (or, with `--backend
postgres`, PostgreSQL), K concurrent raw-HTTP clients, and one fault at a time (kill, roll, store). Prints a progress
line every few seconds, a results table and the pass criteria, and writes everything to a results directory. Run it
through scripts/chaos (see README.md here).

Each fault runs as a phase of its own, on a fresh cluster: set-up, `--duration` seconds of traffic with the fault
injected after `--warmup` seconds, then no new calls; the calls in flight get `--hang-timeout` seconds to end, the
streams one more second and a half for the last notifications; then everything is stopped.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio

import cluster as cl
import faults as fl
import report
from clients import MessageStreamClient, SessionClient, Shared, StatelessClient, TaskClient, Toucher
from plot import plot
from record import Recorder

ROOT = Path(__file__).resolve().parents[2]
PROGRESS_EVERY = 3.0
MAX_TASK_RUN = 30 * 0.1  # the longest long-job of the task client: 30 steps of 100 ms
STORES: dict[str, Any] = {"redis": cl.Redis, "postgres": cl.Postgres}  # --backend values the harness starts itself
SHORT = {"duration": 12.0, "kill_every": 5.0, "hang_timeout": 8.0, "warmup": 2.0}
LONG = {"duration": 40.0, "kill_every": 6.0, "hang_timeout": 30.0, "warmup": 3.0}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/chaos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fault", choices=["kill", "roll", "store", "none", "all"], default="all",
                   help="which fault to inject; all: kill, roll and store one after the other (default all)")
    p.add_argument("--short", action="store_true",
                   help="the test-suite version, about a minute over the three faults: "
                        + ", ".join(f"--{k.replace('_', '-')} {v:g}" for k, v in SHORT.items()))
    p.add_argument("--backend", default="redis",
                   help="the store: redis (default; a throwaway redis-server), postgres (a throwaway PostgreSQL, "
                        "scripts/start-postgres) or a URL passed to the replicas as it is (no store fault then)")
    p.add_argument("--clients", type=int, default=12, help="concurrent clients, half session, half stateless (default 12)")
    p.add_argument("--sse-clients", type=int, default=2,
                   help="HTTP+SSE (2024-11-05) clients, besides --clients (default 2; 0: none)")
    p.add_argument("--task-every", type=float, default=0.5,
                   help="seconds between two long-job tasks of the task client (default 0.5; 0: no task client)")
    p.add_argument("--replicas", type=int, default=3, help="replicas behind nginx (default 3)")
    p.add_argument("--duration", type=float, help=f"seconds of traffic per fault (default {LONG['duration']:.0f}, short {SHORT['duration']:.0f})")
    p.add_argument("--warmup", type=float, help="seconds of traffic before the fault")
    p.add_argument("--kill-every", type=float, help=f"kill: seconds between kills (default {LONG['kill_every']:.0f})")
    p.add_argument("--store-down", type=float, default=3.0, help="store: seconds between the store's shutdown and its restart (default 3)")
    p.add_argument("--hang-timeout", type=float,
                   help=f"a request without a definite answer this many seconds after it was sent is hung (default {LONG['hang_timeout']:.0f}, short {SHORT['hang_timeout']:.0f})")
    p.add_argument("--touch-every", type=float, default=0.5, help="seconds between two touches of demo://counter (default 0.5)")
    p.add_argument("--replica-lease-ms", type=int, default=2000, help="passed to every replica (default 2000)")
    p.add_argument("--drain-delay-ms", type=int, default=300, help="passed to every replica (default 300)")
    p.add_argument("--drain-timeout-ms", type=int, default=10000, help="passed to every replica (default 10000)")
    p.add_argument("--log-level", default="info", help="the replicas' --log-level (default info)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock; printed)")
    p.add_argument("--plot", type=Path, help="also write the plot (PNG) here")
    p.add_argument("--results", type=Path, help="results directory (default .build/chaos/<timestamp>)")
    p.add_argument("--binary", default=os.environ.get("MCP_DEMO_SERVER_BIN", str(ROOT / ".build/debug/mcp-demo-server")),
                   help="the server binary (default $MCP_DEMO_SERVER_BIN or .build/debug/mcp-demo-server)")
    args = p.parse_args(argv)
    for k, v in (SHORT if args.short else LONG).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.seed is None:
        args.seed = int(time.time()) % 100000
    return args


def drain_wait(args: argparse.Namespace) -> float:
    """How long a SIGTERMed replica may take to exit before it is killed: its drain delay and deadline, and 3 s."""
    return (args.drain_delay_ms + args.drain_timeout_ms) / 1000 + 3


def say(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------------------------------------------------
# Preparation
# --------------------------------------------------------------------------------------------------------------------


class SetupError(RuntimeError):
    """The harness cannot run at all (no binary, unsupported backend, ...)."""


def snapshot_binary(binary: str, run_dir: Path) -> str:
    """A copy of the binary for this run: the other engineer may rebuild it while the run restarts replicas."""
    if not os.access(binary, os.X_OK):
        raise SetupError(f"server binary {binary} not found (swift build --product mcp-demo-server, or --binary)")
    copy = run_dir / "mcp-demo-server"
    shutil.copy2(binary, copy)
    if subprocess.run([str(copy), "--help"], capture_output=True, timeout=30).returncode != 0:
        raise SetupError(f"{binary} does not run (being rebuilt?)")
    return str(copy)


def check_backend(binary: str, backend: str, key: str) -> None:
    """Fails clearly when the server refuses a backend URL the harness was asked to use (e.g. postgres://...)."""
    proc = subprocess.Popen([binary, "--backend", backend, "--port", "0", "--replica-id", "probe", "--key", key],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        cl.kill_group(proc.pid, signal.SIGKILL)
        proc.wait()
        return  # it runs with that backend
    if proc.returncode != 0:
        lines = [x.strip() for x in out.decode("utf-8", "replace").splitlines() if x.strip()]
        said = next((x for x in lines if "rror" in x), lines[-1] if lines else f"exit {proc.returncode}")
        raise SetupError(f"--backend {backend} is not supported by this build yet (mcp-demo-server said: {said})")


def server_flags(args: argparse.Namespace, binary: str, notes: list[str]) -> list[str]:
    wanted = {"--replica-lease-ms": args.replica_lease_ms, "--drain-delay-ms": args.drain_delay_ms,
              "--drain-timeout-ms": args.drain_timeout_ms}
    known = cl.supported_flags(binary)
    missing = [f for f in wanted if f not in known]
    if missing:
        notes.append(f"the binary does not know {', '.join(missing)}: replicas run without them")
    return [x for f, v in wanted.items() if f in known for x in (f, str(v))]


# --------------------------------------------------------------------------------------------------------------------
# One phase
# --------------------------------------------------------------------------------------------------------------------


async def progress(rec: Recorder, c: cl.Cluster, stop: anyio.Event) -> None:
    while not stop.is_set():
        await anyio.sleep(PROGRESS_EVERY)
        calls = report.main_calls(rec)
        ok = sum(1 for x in calls if x.outcome == "ok")
        e32010 = sum(1 for x in calls if report.is_32010(x))
        err = sum(1 for x in calls if x.outcome not in (None, "ok") and not report.is_32010(x))
        attempts = [a for x in calls for a in x.attempts]
        transport = sum(1 for a in attempts if a.result == "transport")
        cuts = sum(1 for a in attempts if a.result == "cut")
        listens = sum(1 for e in rec.listens if e.t_ack is not None and e.t_end is None)
        gets = sum(1 for g in rec.gets if g.t_primed is not None and g.t_end is None and (not g.gaps or g.gaps[-1][1] is not None))
        reps = " ".join(r.id + ("" if r.running() else "(down)") for r in c.replicas)
        sse = [x for x in rec.calls if x.kind == "sse"]
        sse_text = "" if not sse else (
            f"  sse ok {sum(1 for x in sse if x.outcome == 'ok')} -32010 {sum(1 for x in sse if report.is_32010(x))}"
            f" lost {sum(1 for x in sse if x.outcome == 'lost_with_stream')} refused {sum(1 for x in sse if x.outcome == 'refused')}"
            f" streams {sum(1 for m in rec.sse_streams if m.t_end is None)}")
        tasks = rec.tasks
        task_text = "" if not tasks else (
            f"  tasks {sum(1 for t in tasks if t.task_id)} done {sum(1 for t in tasks if t.outcome == 'completed')}"
            f" lost {sum(1 for t in tasks if t.outcome == 'lost')} running {rec.tasks_in_flight()}")
        say(f"chaos [{rec.phase} {rec.now():5.1f}s] ok {ok}  -32010 {e32010}  errors {err}  transport {transport}  cuts {cuts}"
            f"  in flight {rec.in_flight()}  listen open {listens}  GET open {gets}{sse_text}{task_text}  replicas {reps}")


async def traffic(args: argparse.Namespace, fault: str, c: cl.Cluster, store: cl.Store | None, rec: Recorder, rng: random.Random) -> dict[str, Any]:
    """Runs the clients and the fault; returns the fault's facts."""
    shared = Shared(rec, c.url, args.hang_timeout, rng, touch_every=args.touch_every, task_every=args.task_every)
    n_session = (args.clients + 1) // 2
    clients = [SessionClient(f"s{k + 1}", shared) for k in range(n_session)]
    clients += [StatelessClient(f"m{k + 1}", shared) for k in range(args.clients - n_session)]
    clients += [MessageStreamClient(f"h{k + 1}", shared) for k in range(args.sse_clients)]
    clients += [TaskClient("t1", shared)] if args.task_every > 0 else []
    ctx = fl.FaultContext(c, store, rec, rng, args.warmup, args.duration, args.kill_every, args.store_down,
                          drain_wait=drain_wait(args))
    done = anyio.Event()
    async with anyio.create_task_group() as outer:
        outer.start_soon(progress, rec, c, done)
        async with anyio.create_task_group() as tg:
            for client in [*clients, Toucher(shared)]:
                tg.start_soon(client.run)
            facts = await fl.FAULTS[fault](ctx)
            await fl.sleep_until(rec, max(args.duration, rec.now() + 2))
            rec.event("clients_stop")
            shared.stop.set()
            with anyio.move_on_after(args.hang_timeout + 5 + MAX_TASK_RUN):  # a task: its run time + the hang timeout
                while rec.in_flight() or rec.tasks_in_flight():
                    await anyio.sleep(0.1)
            await anyio.sleep(1.5)  # the last touches' notifications reach the streams
            shared.streams_stop.set()
            tg.cancel_scope.deadline = anyio.current_time() + 10
        done.set()
        outer.cancel_scope.cancel()
    return facts


async def run_phase(args: argparse.Namespace, fault: str, run_dir: Path, binary: str, flags: list[str], key: str) -> dict[str, Any]:
    pdir = run_dir / fault
    pdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{args.seed}-{fault}")
    rec = Recorder(fault)
    store: cl.Store | None = None
    c: cl.Cluster | None = None
    facts: dict[str, Any] = {}
    error = None
    end_state: dict[str, Any] = {"replicas": args.replicas, "alive": {}, "all_alive": False}
    t_phase = time.monotonic()
    say(f"chaos: === {fault} === ({args.replicas} replicas, {args.clients} clients + {args.sse_clients} HTTP+SSE, "
        f"{args.duration:.0f} s; logs in {pdir})")
    try:
        backend = args.backend
        if args.backend in STORES:
            store = await anyio.to_thread.run_sync(STORES[args.backend].start)
            store.pid_record(pdir)
            backend = store.url
        elif fault == "store":
            raise SetupError(f"the store fault restarts a store the harness started (--backend {' or '.join(STORES)}), "
                             f"not {args.backend}")
        c = cl.Cluster(pdir, binary, backend, key, args.replicas, flags, args.log_level)
        await c.start_replicas()
        await c.start_nginx()
        say(f"chaos: nginx 127.0.0.1:{c.nginx_port} -> " + ", ".join(f"{r.id} :{r.port}" for r in c.replicas) + f"; backend {backend}")
        rec = Recorder(fault)
        rec.port_to_replica = c.ports()
        facts = await traffic(args, fault, c, store, rec, rng)
        end_state["alive"] = {r.id: r.running() for r in c.replicas}
        end_state["all_alive"] = all(end_state["alive"].values())
    except (cl.StartupError, SetupError, OSError, subprocess.SubprocessError, TimeoutError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        say(f"chaos: {fault}: {error}")
    finally:
        with anyio.CancelScope(shield=True):
            if c is not None:
                c.stop_nginx()
                await c.stop_replicas(timeout=drain_wait(args))
                await c.aclose()
                end_state["trimmed_logs"] = c.trim_logs()
            if store is not None:
                await anyio.to_thread.run_sync(store.stop, pdir / store.log_name)
    rec.mark_hung()
    say(f"chaos: {fault} done in {time.monotonic() - t_phase:.0f} s")
    (pdir / "record.json").write_text(json.dumps(rec.dump()))
    summary = report.summarize(rec)
    checks = report.criteria(fault, rec, summary, facts, end_state) if error is None else []
    if error is not None:
        checks.append({"fault": fault, "name": "the phase ran to its end", "passed": False, "detail": error})
    return {
        "fault": fault, "error": error, "summary": summary, "criteria": checks, "facts": facts, "end_state": end_state,
        "exits": {r.id: r.exits for r in c.replicas} if c else {}, "timeseries": report.timeseries(rec),
    }


# --------------------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------------------


def interrupted(signum: int, frame: Any) -> None:
    """SIGTERM (scripts/chaos's trap) or a second Ctrl-C: stop like on Ctrl-C, once; the teardown is not interrupted."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    run_dir = args.results or ROOT / ".build" / "chaos" / time.strftime("%Y%m%d-%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    if os.environ.get("MCP_CHAOS_RUN_DIR_FILE"):  # scripts/chaos's trap cleans up from the pids recorded there
        Path(os.environ["MCP_CHAOS_RUN_DIR_FILE"]).write_text(str(run_dir))
    signal.signal(signal.SIGTERM, interrupted)
    faults = ["kill", "roll", "store"] if args.fault == "all" else [args.fault]
    notes: list[str] = []
    key = base64.b64encode(os.urandom(32)).decode()
    phases: list[dict[str, Any]] = []
    try:
        binary = snapshot_binary(args.binary, run_dir)
        if args.backend == "postgres":  # with a real server: one that cannot be reached fails as an unsupported URL does
            try:
                pg = cl.Postgres.start()
            except cl.StartupError as exc:
                raise SetupError(str(exc)) from exc
            try:
                check_backend(binary, pg.url, key)
            finally:
                pg.stop(None)
        elif args.backend != "redis":
            check_backend(binary, args.backend, key)
        if args.backend == "postgres" and "store" in faults:
            notes.append("store on postgres: pg_ctl stop -m immediate, then started again on the same port with the same "
                         "data directory: the data persists (the redis store fault starts an empty redis-server)")
        flags = server_flags(args, binary, notes)
        say(f"chaos: binary {args.binary} (copied to {binary}), seed {args.seed}, results in {run_dir}")
        for note in notes:
            say(f"chaos: note: {note}")

        async def run_all() -> None:
            for fault in faults:
                phases.append(await run_phase(args, fault, run_dir, binary, flags, key))

        anyio.run(run_all)
    except SetupError as exc:
        say(f"chaos: {exc}")
        say("chaos: 0 passed, 1 failed")
        return 2
    except KeyboardInterrupt:
        say(f"chaos: interrupted; what it started is stopped (logs in {run_dir})")
        return 130
    finally:
        (run_dir / "mcp-demo-server").unlink(missing_ok=True)
        if not any(run_dir.iterdir()):
            run_dir.rmdir()

    checks = [c for p in phases for c in p["criteria"]]
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    results = {"settings": settings, "notes": notes, "phases": phases,
               "passed": sum(c["passed"] for c in checks), "failed": sum(not c["passed"] for c in checks)}
    (run_dir / "results.json").write_text(json.dumps(results, indent=1))
    title = f"scripts/chaos {' '.join(argv)} — {time.strftime('%Y-%m-%d %H:%M')}, seed {args.seed}"
    plot(phases, run_dir / "timeseries.png", title)
    if args.plot:
        plot(phases, args.plot, title)
    sse_table = report.sse_table(phases)
    task_table = report.task_table(phases)
    text = "\n".join([
        "", report.table(phases), "",
        f"(hung: no definite answer within {args.hang_timeout:.0f} s of being sent; listen/GET: expected/received/missed, "
        "(touches during a reconnect); p50/p99: successful tools/call, ms)", "",
        *(["tasks (long-job through nginx, followed with tasks/get):", task_table, "",
           "(created: answered with a CreateTaskResult; runner killed/drained: the replica that created it was killed "
           "or sent SIGTERM while it ran; completed: with the text done: <steps>; lost: tasks/get said "
           "-32602 unknown task after it was created, w/ store: created before a store restart without persistence; "
           f"hung: not terminal within its run time + {args.hang_timeout:.0f} s; get retries: tasks/get without an "
           "answer (transport error, 503) tried again)", ""] if task_table else []),
        *(["HTTP+SSE (2024-11-05) clients:", sse_table, "",
           "(calls: initialize and tools/call requests; finals: answered on the stream, -32010 included; lost w/ stream: "
           "the stream ended before the answer; refused: POST 404/503; POST errors: nginx 5xx or a reset; 202 w/o final: "
           "accepted calls not answered on the stream)", ""] if sse_table else []),
        "criteria:", report.criteria_text(checks), "",
        *[f"finding: {f}" for f in report.findings(phases)],
        *[f"note: {n}" for n in notes],
        f"results: {run_dir}/results.json, plot: {run_dir}/timeseries.png" + (f" and {args.plot}" if args.plot else ""),
    ])
    (run_dir / "report.txt").write_text(text + "\n")
    say(text)
    say(f"chaos: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
