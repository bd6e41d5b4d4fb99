"""The job's own log records reach its task log (mediatasks.core.worker.task_log)."""

from __future__ import annotations

import asyncio
import logging

from mediatasks.core.worker._attempt import AttemptState
from mediatasks.core.worker.task_log import current_attempt, install_task_log_bridge


async def test_records_of_the_running_job_become_task_log_lines() -> None:
    install_task_log_bridge()
    install_task_log_bridge()  # once per process, however often it is called
    mine, other = AttemptState(), AttemptState()

    async def job(state: AttemptState, name: str) -> None:
        token = current_attempt.set(state)
        try:
            await asyncio.sleep(0)
            logging.getLogger("mediatasks.media.ffmpeg").info("ffmpeg %s finished in %.2fs", name, 1.5)
            logging.getLogger("mediatasks.providers.router").warning("provider %s failed; failing over", name)
            logging.getLogger("mediatasks.media.ffmpeg").debug("running ffmpeg -i ...")  # below INFO
            logging.getLogger("mediatasks.core.worker.runtime").info("worker bookkeeping")  # the worker's own
            logging.getLogger("httpx").info("HTTP Request: GET ...")  # not mediatasks code
        finally:
            current_attempt.reset(token)

    await asyncio.gather(job(mine, "mine"), job(other, "other"))
    assert mine.take_logs() == ["ffmpeg mine finished in 1.50s", "WARNING: provider mine failed; failing over"]
    assert other.take_logs() == ["ffmpeg other finished in 1.50s", "WARNING: provider other failed; failing over"]
    logging.getLogger("mediatasks.media.ffmpeg").info("outside any job")
    assert mine.take_logs() == [] and other.take_logs() == []
