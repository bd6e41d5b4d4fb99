"""Steps most job handlers share: fetching inputs, bridging progress, storing outputs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from mediatasks.core.errors import too_large
from mediatasks.core.inputs import fetch_to
from mediatasks.core.worker.context import JobContext
from mediatasks.v1 import common_pb2


async def fetch_input(ctx: JobContext, ref: str, name: str, *, percent: float = 2.0) -> Path:
    """Download an input (URL or artifact id) into the job's work directory as ``name``,
    streamed to disk. The job's inputs together stay within MEDIATASKS_MAX_JOB_INPUT_BYTES:
    the download that would pass it stops there and the task fails naming the limit."""
    await ctx.progress(percent, "downloading")
    budget = ctx.settings.max_job_input_bytes - ctx.input_bytes
    if budget <= 0:
        limit = ctx.settings.max_job_input_bytes
        raise too_large(f"the job's inputs are over {limit} bytes together", limit)
    path = await fetch_to(ref, ctx.workdir / name, ctx.settings, ctx.artifacts, ctx.owner, limit=budget)
    ctx.input_bytes += path.stat().st_size
    return path


def stage_progress(ctx: JobContext, low: float, high: float) -> Callable[[float, str], Awaitable[None]]:
    """An ``on_progress(percent, stage)`` that maps 0–100 onto ``low``–``high`` of the job."""

    async def report(percent: float, stage: str) -> None:
        await ctx.progress(low + (high - low) * max(0.0, min(100.0, percent)) / 100.0, stage)

    return report


def percent_progress(ctx: JobContext, low: float, high: float, stage: str) -> Callable[[float], Awaitable[None]]:
    """An ``on_progress(percent)`` for steps that report no stage of their own."""
    staged = stage_progress(ctx, low, high)

    async def report(percent: float) -> None:
        await staged(percent, stage)

    return report


async def store_output(
    ctx: JobContext, path: Path, *, role: str, filename: str | None = None, folder: str = ""
) -> common_pb2.Artifact:
    """Upload a finished output file as an artifact of the task's owner (filed under the
    request's ``folder``, if it names one)."""
    await ctx.progress(97, "uploading")
    return await ctx.artifacts.put_file(path, owner=ctx.owner, role=role, filename=filename, folder=folder)
