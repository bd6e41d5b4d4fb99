"""Limits per job: refused at submit when knowable (400 naming the limit), otherwise the
task fails with a reason that names it.

- total input bytes (``MEDIATASKS_MAX_JOB_INPUT_BYTES``): uploaded inputs' sizes are known
  at submit; remote ones are counted as they arrive, and the download stops at the limit;
- slideshow images and their total pixels (``MEDIATASKS_MAX_SLIDESHOW_IMAGES``,
  ``MEDIATASKS_MAX_SLIDESHOW_PIXELS``): the count at submit, the pixels from each image's
  header once it is downloaded (nothing is decoded to learn them);
- output duration (``MEDIATASKS_MAX_OUTPUT_SECONDS``): a slideshow's at submit, a
  caption or audio job's from the probed input;
- ffmpeg wall time and memory (``MEDIATASKS_FFMPEG_TIMEOUT_SECONDS``,
  ``MEDIATASKS_FFMPEG_MAX_MEMORY_BYTES``) in :mod:`mediatasks.media.ffmpeg`.
"""

from __future__ import annotations

import contextvars

import grpc

from mediatasks.core.errors import MediaTasksError, too_large
from mediatasks.core.settings import Settings

# Failures that mean "the job hit its time limit": re-run once at most (a second run that
# also times out would only burn another hour of a worker).
TIME_LIMIT_REASONS = frozenset({"JOB_TIMEOUT", "FFMPEG_TIMEOUT"})

# Bytes of the inputs one submit names, summed while its references are checked (one
# gRPC call is one asyncio task, so each call counts its own).
_submitted_input_bytes: contextvars.ContextVar[int] = contextvars.ContextVar("submitted_input_bytes", default=0)


def retry_allowed(reason: str, retryable: bool, attempt: int) -> bool:
    """Whether a failed attempt may run again, as far as the limits go."""
    return retryable and not (reason in TIME_LIMIT_REASONS and attempt >= 2)


def count_submitted_input(size: int, settings: Settings, *, field: str) -> None:
    """Add one input's size to this submit's total; over the limit, 400 naming it."""
    total = _submitted_input_bytes.get() + size
    _submitted_input_bytes.set(total)
    limit = settings.max_job_input_bytes
    if total > limit:
        error = too_large(f"the job's inputs are {total} bytes together (at {field}); the limit is {limit}", limit)
        error.metadata["field"] = field
        raise error


def output_too_long(seconds: float, settings: Settings, what: str) -> MediaTasksError:
    limit = settings.max_output_seconds
    return MediaTasksError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "OUTPUT_TOO_LONG",
        f"{what} would be {seconds:.0f} s long; the limit is {limit:.0f} s (MEDIATASKS_MAX_OUTPUT_SECONDS)",
        metadata={"limit_seconds": f"{limit:g}"},
    )


def check_output_seconds(seconds: float, settings: Settings, what: str) -> None:
    if seconds > settings.max_output_seconds:
        raise output_too_long(seconds, settings, what)


def check_slideshow_size(images: int, settings: Settings) -> None:
    limit = settings.max_slideshow_images
    if images > limit:
        raise MediaTasksError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "TOO_MANY_IMAGES",
            f"{images} images; a slideshow takes at most {limit} (MEDIATASKS_MAX_SLIDESHOW_IMAGES)",
            metadata={"limit": str(limit), "field": "images"},
        )


def check_slideshow_pixels(pixels: int, settings: Settings) -> None:
    limit = settings.max_slideshow_pixels
    if pixels > limit:
        raise MediaTasksError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "TOO_MANY_PIXELS",
            f"the slideshow's images hold {pixels / 1e6:.1f} MP together; the limit is {limit / 1e6:g} MP "
            "(MEDIATASKS_MAX_SLIDESHOW_PIXELS)",
            metadata={"limit_pixels": str(limit)},
        )
