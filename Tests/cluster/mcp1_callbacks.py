"""The client callbacks the mcp 1.x cluster tests give `ClientSession` (imported only in the mcp 1.x venv): they answer
elicitation, sampling and roots the way the demo contract expects, and record what the server sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp.types as types
from mcp.shared.context import RequestContext


@dataclass
class RecordingCallbacks:
    """Answers `ask` with `a1`, `a2`, …, `summarize` with "Short.", `list-roots` with two roots; records the questions,
    log levels, resource updates (setting `got` on the first) and progress values."""

    questions: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    updates: list[str] = field(default_factory=list)
    progress: list[float] = field(default_factory=list)
    got: anyio.Event = field(default_factory=anyio.Event)

    async def elicit(self, ctx: RequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.questions.append(params.message)
        return types.ElicitResult(action="accept", content={"answer": f"a{len(self.questions)}"})

    async def sample(self, ctx: RequestContext, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant", model="cluster-model", content=types.TextContent(type="text", text="Short."), stopReason="endTurn"
        )

    async def roots(self, ctx: RequestContext) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/project-a", name="a"), types.Root(uri="file:///srv/b")])

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params.level)

    async def on_message(self, message: Any) -> None:
        if isinstance(message, types.ServerNotification) and isinstance(message.root, types.ResourceUpdatedNotification):
            self.updates.append(str(message.root.params.uri))
            self.got.set()

    async def on_progress(self, value: float, total: float | None, message: str | None) -> None:
        self.progress.append(value)

    def session_kwargs(self) -> dict[str, Any]:
        """The `ClientSession` arguments that install these callbacks."""
        return dict(
            elicitation_callback=self.elicit, sampling_callback=self.sample, list_roots_callback=self.roots,
            logging_callback=self.on_log, message_handler=self.on_message,
        )
