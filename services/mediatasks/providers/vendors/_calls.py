"""One way to make a vendor call: a deadline, error mapping and cancellation bookkeeping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from mediatasks.core.errors import MediaTasksError
from mediatasks.providers.base import CallContext
from mediatasks.providers.vendors.errors import timed_out

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a vendor cancel request may take once our call was cancelled: the job is
# being torn down, so this must stay short.
CANCEL_TIMEOUT_SECONDS = 5.0

ErrorMapper = Callable[[BaseException], MediaTasksError | None]


async def guarded(
    provider: str,
    seconds: float,
    operation: Awaitable[T],
    map_error: ErrorMapper,
    *,
    ctx: CallContext | None = None,
    cancel_at_vendor: Callable[[], Awaitable[bool]] | None = None,
) -> T:
    """Await ``operation`` within ``seconds``, mapping vendor exceptions.

    On asyncio cancellation the operation is aborted (its HTTP request closed, or its
    thread abandoned), then ``cancel_at_vendor`` (if the vendor has a cancel call) is
    asked to stop the vendor-side job; ``ctx.cancel_confirmed`` records whether the vendor
    acknowledged. The cancellation is always re-raised.
    """
    try:
        async with asyncio.timeout(seconds):
            return await operation
    except TimeoutError:
        raise timed_out(provider, seconds) from None
    except asyncio.CancelledError:
        confirmed = False
        if cancel_at_vendor is not None:
            try:
                confirmed = await asyncio.wait_for(cancel_at_vendor(), CANCEL_TIMEOUT_SECONDS)
            except Exception as error:  # the job is cancelled either way; note why not upstream
                log.warning("%s: cancelling the vendor job failed: %s", provider, error)
        if ctx is not None:
            ctx.cancel_confirmed = bool(confirmed)
        raise
    except MediaTasksError:
        raise
    except Exception as error:
        mapped = map_error(error)
        if mapped is None:
            raise
        raise mapped from error
