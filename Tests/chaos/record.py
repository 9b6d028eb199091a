"""What one fault phase observed: every call and each of its HTTP attempts, every listen episode and standalone GET
stream, every touch, and the fault events. Times are seconds since the phase's clients started (`Recorder.now()`).

A *call* is one logical request of a client (one JSON-RPC request for a session client, which may be read through
several resumed streams; for a stateless client the request and the re-issues the spec allows). Its *outcome* is its
definite answer:

    ok          a final result, as the demo contract promises
    rpc_error   a final JSON-RPC error (code in `error_code`; -32010 also has `error_reason` and `error_replica`)
    refused     an HTTP refusal from a replica (4xx/5xx with a JSON-RPC body; `status`, `retry_after`)
    transport   a 5xx from nginx or a reset before any byte of the response (never re-sent by a session client)
    lost        the stream was cut and the resume was refused for good (404): no answer will ever come
    lost_with_stream  (HTTP+SSE) the session's one stream ended before the answer came: the transport has no
                resumption, so the answer can never come (its documented limit when the stream's replica dies)
    bad_result  a final result that is not the one the demo contract promises
    hung        no definite answer within the hang bound
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

# What an attempt (one HTTP exchange) ended with.
ATTEMPT_FINAL = "final"        # it carried the call's final answer
ATTEMPT_REFUSED = "refused"    # a replica refused it (HTTP status with a JSON-RPC body)
ATTEMPT_TRANSPORT = "transport"  # 5xx from nginx or a reset before any byte
ATTEMPT_CUT = "cut"            # the stream ended or broke before the final answer
ATTEMPT_RETRY = "retry"        # a resume that must be tried again (409, 503, refused connection)


@dataclass
class Attempt:
    kind: str                    # "post", "resume" or "reissue"
    t_start: float
    t_end: float | None = None
    result: str | None = None    # one of ATTEMPT_*
    status: int | None = None
    upstream: str | None = None  # the replica nginx passed it to (X-Upstream), when known
    retry_after: str | None = None
    rpc_error: int | None = None  # the JSON-RPC error code of a refusal's body
    detail: str = ""


@dataclass
class Call:
    call_id: str
    client: str
    kind: str                    # "session", "stateless" or "touch"
    method: str                  # "tools/call:<tool>", "initialize", "resources/subscribe", ...
    t_sent: float
    t_final: float | None = None
    outcome: str | None = None
    error_code: int | None = None
    error_reason: str | None = None
    error_replica: str | None = None
    detail: str = ""
    primed: bool = False         # a session request stream that delivered its priming event
    finals: int = 0              # final answers seen for its JSON-RPC id (more than one: duplicated)
    progress: int = 0
    server_requests: list[str] = field(default_factory=list)  # "<s2c id> -> <answer's HTTP status> via <replica>"
    attempts: list[Attempt] = field(default_factory=list)
    stream: int | None = None    # HTTP+SSE: the index of its session's stream in `Recorder.sse_streams`
    late_answers: int = 0        # HTTP+SSE: answers that came after the call had ended otherwise (refused, hung, ...)
    expected_progress: int | None = None  # HTTP+SSE countdown: its steps, one progress notification each

    def attempt(self, kind: str, t: float) -> Attempt:
        a = Attempt(kind, t)
        self.attempts.append(a)
        return a


@dataclass
class ListenEpisode:
    """One subscriptions/listen stream, from its request to its end."""

    client: str
    t_sent: float
    t_ack: float | None = None
    t_end: float | None = None
    end: str = ""                # "final", "error", "cut", "http <status>", "closed" (by the harness at the end)
    upstream: str | None = None
    received: list[float] = field(default_factory=list)


@dataclass
class GetStream:
    """One session's standalone GET stream, across its resumptions, subscribed to demo://counter."""

    client: str
    session: str
    t_subscribed: float
    t_primed: float | None = None
    t_end: float | None = None
    end: str = ""
    received_ids: list[str] = field(default_factory=list)
    duplicate_events: int = 0    # events whose id had been seen already (a replay that overlapped)
    gaps: list[list[float]] = field(default_factory=list)  # [cut, primed again] while it was being re-opened
    resumes: int = 0


@dataclass
class MessageStream:
    """One HTTP+SSE (2024-11-05) session: its GET /sse stream, from the GET to the stream's end. `upstream` is the
    replica holding the stream (X-Upstream of the GET)."""

    client: str
    t_open: float
    status: int | None = None
    upstream: str | None = None
    t_endpoint: float | None = None
    session: str = ""
    initialized: bool = False
    t_end: float | None = None
    end: str = ""                # "ended" (by the server), "broke" (a read error), "closed" (by the client; `detail`
    detail: str = ""             # says why), "http <status>", "transport"
    t_refused: float | None = None  # the first POST of the session refused with 404
    calls: int = 0
    unknown_responses: int = 0   # responses whose id no call of the session had


@dataclass
class TaskRun:
    """One long-job task of the task client: its creation (a tools/call answered with a CreateTaskResult, re-issued on
    a transport error, a cut stream or a 503) and its tasks/get polls until a terminal status.

    outcome: "completed" (with the right text), "bad_result" (completed with another text), "failed" (`error_code`),
    "cancelled", "lost" (tasks/get answered -32602, unknown task, after it was created), "hung" (not terminal within
    `deadline`), "not_created" (the tools/call got no CreateTaskResult: `detail` says what; `error_code` if an error),
    "create_hung" (no answer to the tools/call within the hang bound)."""

    client: str
    steps: int
    interval_ms: int
    t_sent: float
    task_id: str | None = None
    t_created: float | None = None
    created_by: str | None = None       # the replica that answered the tools/call (X-Upstream)
    create_attempts: int = 0
    deadline: float | None = None       # t_created + the expected run time + the hang timeout
    status: str | None = None           # the last status tasks/get showed
    polls: int = 0
    poll_retries: int = 0               # tasks/get attempts that met a transport error, a 503 or another refusal
    poll_failures: dict[str, int] = field(default_factory=dict)  # those retries by what they got ("HTTP 503", "-32603", ...)
    served_by: list[str] = field(default_factory=list)  # replicas that answered its tasks/get, in order (deduplicated runs)
    t_end: float | None = None
    outcome: str | None = None
    error_code: int | None = None
    detail: str = ""


@dataclass
class Touch:
    t_sent: float
    t_done: float | None = None
    ok: bool = False
    attempts: int = 0


@dataclass
class Event:
    t: float
    kind: str                    # "kill", "restarted", "out_of_rotation", "sigterm", "exited", "in_rotation",
    replica: str | None = None   # "store_down", "store_up", "store_recovered", ...
    detail: dict[str, Any] = field(default_factory=dict)


class Recorder:
    """Everything one phase observed. Clients append; the report reads when the phase is over."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.t0 = time.monotonic()
        self.calls: list[Call] = []
        self.listens: list[ListenEpisode] = []
        self.gets: list[GetStream] = []
        self.touches: list[Touch] = []
        self.events: list[Event] = []
        self.answers = {"posted": 0, "accepted": 0, "elsewhere": 0, "retried": 0, "refused": 0}
        self.reused_ids: list[str] = []  # server-to-client request ids a session saw twice (in different requests)
        self.sse_streams: list[MessageStream] = []
        self.sse_answers = {"posted": 0, "accepted": 0, "retried": 0, "refused": 0}
        self.port_to_replica: dict[int, str] = {}
        self.tasks: list[TaskRun] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def call(self, client: str, kind: str, method: str) -> Call:
        c = Call(f"{client}.{len(self.calls)}", client, kind, method, self.now())
        self.calls.append(c)
        return c

    def event(self, kind: str, replica: str | None = None, **detail: Any) -> Event:
        e = Event(self.now(), kind, replica, detail)
        self.events.append(e)
        return e

    def replica_of_port(self, port: int | None) -> str | None:
        return None if port is None else self.port_to_replica.get(port, f"port {port}")

    def in_flight(self) -> int:
        return sum(1 for c in self.calls if c.outcome is None)

    def tasks_in_flight(self) -> int:
        return sum(1 for t in self.tasks if t.outcome is None)

    def end_task(self, task: TaskRun, outcome: str, **fields: Any) -> None:
        """Records how the task ended (only the first one counts)."""
        if task.outcome is not None:
            return
        task.outcome = outcome
        task.t_end = self.now()
        for k, v in fields.items():
            setattr(task, k, v)

    def finish(self, call: Call, outcome: str, **fields: Any) -> None:
        """Records the call's definite answer (only the first one counts)."""
        if call.outcome is not None:
            return
        call.outcome = outcome
        call.t_final = self.now()
        for k, v in fields.items():
            setattr(call, k, v)

    def mark_hung(self) -> None:
        for c in self.calls:
            if c.outcome is None:
                c.outcome = "hung"
        for t in self.tasks:
            if t.outcome is None:
                t.outcome = "hung" if t.task_id is not None else "create_hung"

    def dump(self) -> dict[str, Any]:
        return {
            "calls": [asdict(c) for c in self.calls],
            "listens": [asdict(x) for x in self.listens],
            "gets": [asdict(x) for x in self.gets],
            "touches": [asdict(x) for x in self.touches],
            "events": [asdict(x) for x in self.events],
            "sse_streams": [asdict(x) for x in self.sse_streams],
            "tasks": [asdict(x) for x in self.tasks],
        }
