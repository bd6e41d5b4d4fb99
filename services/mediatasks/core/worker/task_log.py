"""The task log picks up what the job's own code logs: the provider chosen, an ffmpeg
run's summary, a failover, a vendor's warning.

While a job runs, the records of ``mediatasks.*`` loggers at INFO and above, emitted
from the job's asyncio task (or anything it spawned), are added to that attempt's log
lines and reach GET …/logs and the event stream with the next progress report. The
worker runtime's own records are left out: they describe the worker, not the job.
"""

from __future__ import annotations

import contextvars
import logging

from mediatasks.core.worker._attempt import AttemptState

current_attempt: contextvars.ContextVar[AttemptState | None] = contextvars.ContextVar("attempt", default=None)

_SOURCE = "mediatasks"
_NOT_THE_JOB = ("mediatasks.core.worker", "mediatasks.core.clients", "mediatasks.core.nats_conn")


class TaskLogBridge(logging.Handler):
    """Copies the current job's log records into its task log."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        state = current_attempt.get()
        if state is None or record.name.startswith(_NOT_THE_JOB):
            return
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record is the logging module's to report
            return
        prefix = "" if record.levelno == logging.INFO else f"{record.levelname}: "
        state.add_log(prefix + message)


_installed: TaskLogBridge | None = None


def install_task_log_bridge() -> None:
    """Attach the bridge to the ``mediatasks`` logger, once per process."""
    global _installed
    if _installed is None:
        _installed = TaskLogBridge()
        source = logging.getLogger(_SOURCE)
        configured = source.getEffectiveLevel()
        if configured > logging.INFO:
            # MEDIATASKS_LOG_LEVEL=WARNING quiets the process's output, not the task logs:
            # INFO records are created for the bridge, and the console keeps its level.
            for handler in logging.getLogger().handlers:
                if handler.level < configured:
                    handler.setLevel(configured)
            source.setLevel(logging.INFO)
        source.addHandler(_installed)
