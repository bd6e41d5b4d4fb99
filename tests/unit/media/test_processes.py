"""Child processes: no Python runs in a child between fork and exec (under uvloop, as the
services run), its memory cap, its pipes and exit code, and a kill of its group."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from mediatasks.media.processes import spawn

# Run in a fresh interpreter on uvloop: an at-fork hook writes a file whenever Python
# runs in a forked child (the interpreter's after-fork work, where a lock another thread
# held at the fork hangs the child before exec, and the parent's event loop with it).
_CHILD_RUNS_PYTHON = textwrap.dedent(
    """
    import asyncio, os, sys
    import uvloop
    from mediatasks.media.processes import spawn

    marker = sys.argv[2]
    os.register_at_fork(after_in_child=lambda: open(marker, "a").close())

    async def main():
        if sys.argv[1] == "spawn":
            child = await spawn(["true"], stdout=False, stderr=False)
            await child.wait()
        else:
            process = await asyncio.create_subprocess_exec("true")
            await process.wait()

    uvloop.run(main())
    """
)


def _python_ran_in_child(how: str, tmp_path: Path) -> bool:
    marker = tmp_path / f"{how}.marker"
    subprocess.run(
        [sys.executable, "-c", _CHILD_RUNS_PYTHON, how, str(marker)], check=True, timeout=60, capture_output=True
    )
    return marker.exists()


def test_a_child_is_started_without_running_python_between_fork_and_exec(tmp_path):
    # uvloop's own subprocesses do run it (the hazard this module exists for) ...
    assert _python_ran_in_child("uvloop", tmp_path)
    # ... a child started by spawn does not.
    assert not _python_ran_in_child("spawn", tmp_path)


async def test_pipes_and_exit_code():
    child = await spawn(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert child.stdout is not None and child.stderr is not None
    out, err = await asyncio.gather(child.stdout.read(), child.stderr.read())
    assert (out, err) == (b"out\n", b"err\n")
    assert await asyncio.wait_for(child.wait(), 10) == 3
    assert child.returncode == 3
    child.close()


async def test_the_memory_cap_is_the_child_s_own():
    limit = 3 << 30
    script = "import resource, time; time.sleep(0.2); print(resource.getrlimit(resource.RLIMIT_AS)[0])"
    child = await spawn([sys.executable, "-c", script], memory_limit_bytes=limit)
    assert child.stdout is not None
    assert int(await child.stdout.read()) == limit
    assert await child.wait() == 0
    child.close()
    assert resource.getrlimit(resource.RLIMIT_AS)[0] != limit  # the service's own is untouched


async def test_kill_group_stops_what_the_child_started():
    child = await spawn(["sh", "-c", "sleep 60 & echo $!; wait"], new_session=True)
    assert child.stdout is not None
    grandchild = int(await asyncio.wait_for(child.stdout.readline(), 10))
    started = time.monotonic()
    child.kill_group()
    assert await asyncio.wait_for(child.wait(), 10) < 0
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while Path(f"/proc/{grandchild}").exists() and "Z" not in _state(grandchild):
        assert time.monotonic() < deadline, "the grandchild outlived the kill of its group"
        await asyncio.sleep(0.05)
    child.close()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"


async def test_a_missing_executable_raises_at_spawn():
    with pytest.raises(FileNotFoundError):
        await spawn(["/nonexistent/binary"])
