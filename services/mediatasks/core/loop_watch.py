"""A service whose event loop stops turning writes every thread's stack to its log.

A service is one event loop carrying every call. When the loop stops (a blocking call
made on it, a deadlock), the process still looks alive: its port accepts connections,
and nothing is answered, no job reported, no log line written. The watch re-arms
:func:`faulthandler.dump_traceback_later` from the loop every second; once the loop has
not re-armed it for the stall time, faulthandler's own C thread writes a ``Timeout``
line and the stack of every thread to stderr (the service's log). It needs no GIL, so a
loop stalled inside a C call that holds the GIL is reported too, which no Python thread
could do. One report per stall; the watch goes on once the loop turns again.
"""

from __future__ import annotations

import asyncio
import faulthandler
import sys
from typing import TextIO

# How often the loop re-arms the watch: the report comes within a second of the stall time.
_REARM_SECONDS = 1.0


async def watch_event_loop(stall_seconds: float, file: TextIO | None = None) -> None:
    """Run until cancelled: report a stall of ``stall_seconds`` or more (0: never) to
    ``file`` (stderr)."""
    if stall_seconds <= 0:
        return
    out = file or sys.stderr
    try:
        while True:
            faulthandler.dump_traceback_later(stall_seconds, repeat=False, file=out)
            await asyncio.sleep(min(_REARM_SECONDS, stall_seconds / 2))
    finally:
        faulthandler.cancel_dump_traceback_later()
