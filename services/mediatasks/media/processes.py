"""Child processes (ffmpeg) of a service, started so that no Python runs in the child.

The services run on uvloop, whose subprocesses are libuv's ``uv_spawn``: it forks, runs
the interpreter's after-fork work in the child (``PyOS_AfterFork_Child``: the other
threads' states are cleared, finalizers and at-fork hooks run, a garbage collection may
start) and the event loop thread waits, reading a pipe, until the child has called
``exec``. A lock that another thread (gRPC's, NATS', a worker thread's) held at the
moment of the fork stays locked in the child forever; when that code reaches it, the
child never execs and the service's whole event loop waits with it: no call answered,
no job reported, while the process looks alive. ``preexec_fn`` brings the same hazard to
CPython's own subprocesses.

So a child is started with :class:`subprocess.Popen` and no ``preexec_fn``: CPython
forks (``vfork`` where it can) and execs in C, running nothing of the interpreter in
the child. Its memory cap is set from the parent with ``prlimit`` right after the exec.
Its pipes are read on the event loop, and its
exit is awaited on a pidfd, so no thread waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import subprocess
from collections.abc import Sequence

# Read buffers of a child's pipes (asyncio's default for subprocesses): a line longer
# than this is an error for StreamReader.readline (see ffmpeg's own line reader).
PIPE_LIMIT = 1 << 16
# How often a child's exit is looked for where the kernel has no pidfd (before 5.3).
_POLL_SECONDS = 0.05


class ChildProcess:
    """A started child: its ``stdout`` and ``stderr`` pipes as stream readers (None where
    not piped), :meth:`wait` for its exit code, :meth:`kill_group` and :meth:`close`."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.stdout: asyncio.StreamReader | None = None
        self.stderr: asyncio.StreamReader | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._poll_task: asyncio.Task[None] | None = None
        self._watch_exit()

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    async def wait(self) -> int:
        """The exit code, once the child has exited (it is reaped then)."""
        return await asyncio.shield(self._exited)

    def kill(self) -> None:
        """SIGKILL the child itself (not yet reaped: its pid is still its own)."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def kill_group(self) -> None:
        """SIGKILL the child's whole process group (it was started as a session leader),
        so whatever it started goes too."""
        if self.returncode is not None:
            return
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except PermissionError:  # the group is gone and its id reused: kill just the child
            self.kill()

    def close(self) -> None:
        """Close the pipes (what is still unread in them is dropped)."""
        for transport in self._transports:
            transport.close()

    async def _connect(self, pipe, attribute: str) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=PIPE_LIMIT, loop=loop)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), pipe)
        self._transports.append(transport)
        setattr(self, attribute, reader)

    def _watch_exit(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfd (an old kernel): look every 50 ms
            self._poll_task = loop.create_task(self._poll_exit())
            return

        def exited() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            self._settle(self._popen.wait())  # readable pidfd: the child is a zombie, reaped at once

        loop.add_reader(pidfd, exited)

    async def _poll_exit(self) -> None:
        while (code := self._popen.poll()) is None:
            await asyncio.sleep(_POLL_SECONDS)
        self._settle(code)

    def _settle(self, code: int) -> None:
        if not self._exited.done():
            self._exited.set_result(code)


async def spawn(
    argv: Sequence[str],
    *,
    stdout: bool = True,
    stderr: bool = True,
    new_session: bool = False,
    memory_limit_bytes: int = 0,
) -> ChildProcess:
    """Start ``argv`` with stdin from /dev/null and stdout/stderr piped (or /dev/null),
    in a session of its own if ``new_session``, its address space capped at
    ``memory_limit_bytes`` (0: no cap)."""
    popen = subprocess.Popen(  # noqa: S603 - argv built by the callers from fixed executables
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
        stderr=subprocess.PIPE if stderr else subprocess.DEVNULL,
        start_new_session=new_session,
    )
    if memory_limit_bytes:
        with contextlib.suppress(ProcessLookupError):  # exited already: nothing to cap
            resource.prlimit(popen.pid, resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    child = ChildProcess(popen)
    try:
        if popen.stdout is not None:
            await child._connect(popen.stdout, "stdout")
        if popen.stderr is not None:
            await child._connect(popen.stderr, "stderr")
    except BaseException:
        child.kill_group() if new_session else child.kill()
        child.close()
        raise
    return child
