"""The worker SDK: task types you write, run on the platform's own worker runtime.

Define a type with a decorator or a class, and run it with one command::

    from mediatasks.worker import BackgroundTask, RetryPolicy, TaskApp

    tasks = TaskApp()

    @tasks.task("thumbnail_report", priority="high", retry=RetryPolicy(max_retries=3, base_delay=60),
                schema={"type": "object", "required": ["images"]})
    async def thumbnail_report(task: BackgroundTask) -> dict:
        await task.update_progress(0.5, "half way")
        return {"images": len(task.payload["images"])}

    # mediatasks worker --app myapp:tasks --queues critical,high --concurrency 20

A handler gets a :class:`BackgroundTask`: its payload, and the very
:class:`~mediatasks.core.worker.JobContext` media handlers get (progress, stage, logs,
cancellation, artifacts) as :attr:`BackgroundTask.context`. The worker declares its types
to the registry when it starts (schema, priority, retry policy) and then pulls their jobs
from JetStream with the runtime every media service uses: fencing, exactly-once
completion, heartbeats, dead letters, metrics and logs are the same.

Clients submit over REST (``/api/background/``); :mod:`mediatasks.worker.submit` has the
convenience calls (``BackgroundClient.submit``, ``submit_document_processing``, ...).
"""

from mediatasks.core.worker import JobCancelled, JobContext
from mediatasks.worker.app import (
    BackgroundTask,
    RetryPolicy,
    TaskApp,
    TaskDefinition,
    TaskFailed,
    TaskHandler,
    TransientError,
    background_task,
    default_app,
)

__all__ = [
    "BackgroundTask",
    "JobCancelled",
    "JobContext",
    "RetryPolicy",
    "TaskApp",
    "TaskDefinition",
    "TaskFailed",
    "TaskHandler",
    "TransientError",
    "background_task",
    "default_app",
]
