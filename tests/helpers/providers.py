"""Helpers shared by the provider integration tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from mediatasks.core.settings import Settings

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"

# make_settings(only=("openai",), provider_timeout_seconds=1.0) -> Settings
SettingsFactory = Callable[..., Settings]


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


async def cancel_after_call_reaches(
    task: asyncio.Task[object], arrived: Callable[[], bool], *, within: float = 1.5
) -> float:
    """Cancel ``task`` once the vendor has the call; return how long cancelling took
    (asserting it ends with CancelledError within ``within`` seconds)."""
    await wait_until(arrived, timeout=10)
    await asyncio.sleep(0.1)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, within + 5)
    elapsed = time.monotonic() - started
    assert elapsed < within, f"cancellation took {elapsed:.2f} s"
    return elapsed
