"""A stalled event loop gets every thread's stack written out, once per stall, and a
loop that keeps turning gets nothing (on uvloop, as the services run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SERVICE = textwrap.dedent(
    """
    import asyncio, sys, time
    import uvloop
    from mediatasks.core.loop_watch import watch_event_loop

    def blocking_call_on_the_loop():
        time.sleep(2.5)

    async def main():
        watch = asyncio.create_task(watch_event_loop(1.0))
        await asyncio.sleep(2.5)  # turning: nothing to report
        print("turning done", file=sys.stderr, flush=True)
        if sys.argv[1] == "stall":
            blocking_call_on_the_loop()
            await asyncio.sleep(2.5)  # turning again: no second report
        watch.cancel()

    uvloop.run(main())
    """
)


def _stderr(mode: str) -> str:
    done = subprocess.run([sys.executable, "-c", _SERVICE, mode], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_a_loop_that_keeps_turning_reports_nothing():
    assert _stderr("turn").strip() == "turning done"


def test_a_stalled_loop_writes_the_stack_of_every_thread_once():
    before, after = _stderr("stall").split("turning done", 1)
    assert before.strip() == ""
    assert after.count("Timeout (0:00:01)!") == 1
    assert "blocking_call_on_the_loop" in after
