"""Jobs: the handler API (:mod:`.context`, :mod:`.helpers`) and the runtime that runs
handlers off JetStream (:mod:`.runtime`, whose every ack/nak/term decision is in
:mod:`.settlement`).

Handlers import from here: ``from mediatasks.core.worker import JobContext, JobResult``.
"""

from mediatasks.core.worker.context import JobCancelled, JobContext, JobHandler, JobResult
from mediatasks.core.worker.helpers import fetch_input, percent_progress, stage_progress, store_output
from mediatasks.core.worker.runtime import LOW_PRIORITY_SHARE, QuickJob, Worker

__all__ = [
    "LOW_PRIORITY_SHARE",
    "JobCancelled",
    "JobContext",
    "JobHandler",
    "JobResult",
    "QuickJob",
    "Worker",
    "fetch_input",
    "percent_progress",
    "stage_progress",
    "store_output",
]
