"""The runner's side of one job attempt: what a :class:`~.context.JobContext` records for
whoever runs the handler (the :class:`~.runtime.Worker`, or a test's
``mediatasks.testing.JobEnvironment``) to read.

Private to the runners: a handler only ever sees the context's methods, so the runtime can
change how it reports progress or cancels without touching a handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

Progress = tuple[int, str]  # (percent 0-100, stage)

STARTING: Progress = (0, "starting")


@dataclass
class AttemptState:
    """Progress, log lines and cancellation of one attempt, shared by its context and its runner."""

    latest: Progress = STARTING
    pending_logs: list[str] = field(default_factory=list)
    # Set on every new progress value or log line; the worker's reporter waits on it.
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_requested: bool = False
    # The registry said a newer attempt owns the task: this one stops, and settles nothing.
    superseded: bool = False
    # Whether the vendor said it stopped the work (set through JobContext.confirm_cancel).
    cancel_confirmed: bool = False
    # Called synchronously with every change, for runners that record each one rather
    # than the latest (the worker leaves them unset: it reports at most every 0.25 s).
    on_progress: Callable[[int, str], None] | None = None
    on_log: Callable[[str], None] | None = None

    def set_progress(self, value: Progress) -> None:
        if value == self.latest:
            return
        self.latest = value
        self.changed.set()
        if self.on_progress is not None:
            self.on_progress(*value)

    def add_log(self, line: str) -> None:
        self.pending_logs.append(line)
        self.changed.set()
        if self.on_log is not None:
            self.on_log(line)

    def take_logs(self) -> list[str]:
        """The log lines queued since the last call."""
        logs, self.pending_logs = self.pending_logs, []
        return logs
