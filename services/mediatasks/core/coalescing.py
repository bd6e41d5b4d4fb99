"""Concurrent requests of one kind, settled together.

On these machines a call costs its fixed price (a gRPC round trip, a transaction's BEGIN
and COMMIT) far more than its size: a worker starting the 20 jobs of one fetch paid for
20 StartAttempt calls where one call carrying 20 would do. A :class:`Coalescer` settles
the first request of a quiet moment at the event loop's next turn (with whatever else
arrived in the same turn), so a lone request waits for nothing; the requests that
arrive while a batch is being settled queue up and are settled together in the next
batch (at most ``limit`` at a time). Batches form from load alone:
no timer, no added latency.

``settle`` receives a batch and resolves every request's answer (a result or an
exception), before it returns or later, in a task it started (a request that must be
retried alone need not hold up the next batch), or hands it to the next batch
(:meth:`Coalescer.defer`). When ``settle`` raises, every answer
of its batch it left unresolved gets that exception. A caller that gives up (a cancelled call) leaves its batch be: the others' answers are
still settled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

RequestT = TypeVar("RequestT")
T = TypeVar("T")
AnswerT = TypeVar("AnswerT")


@dataclass
class Pending(Generic[RequestT, AnswerT]):
    """One request of a batch and the answer its caller awaits."""

    item: RequestT
    answer: asyncio.Future[AnswerT] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def resolve(self, value: AnswerT) -> None:
        if not self.answer.done():
            self.answer.set_result(value)

    def fail(self, error: BaseException) -> None:
        if not self.answer.done():
            self.answer.set_exception(error)


Settle = Callable[[list[Pending[RequestT, AnswerT]]], Awaitable[None]]


class Coalescer(Generic[RequestT, AnswerT]):
    def __init__(self, settle: Settle[RequestT, AnswerT], limit: int, *, overlap_after: float | None = None) -> None:
        """``overlap_after``: seconds a batch may be in flight before the next one goes
        anyway (None: never, batches are settled one after another). A call held up by
        something of its own (another owner's lock, a row locked elsewhere) then delays the
        requests queued behind it by that long at most, not until it is answered."""
        self._settle = settle
        self.limit = limit
        self.overlap_after = overlap_after
        self._waiting: list[Pending[RequestT, AnswerT]] = []
        self._settler: asyncio.Task[None] | None = None
        self._overlapping: set[asyncio.Task[None]] = set()

    async def submit(self, item: RequestT) -> AnswerT:
        """``item``'s answer, once its batch was settled."""
        pending: Pending[RequestT, AnswerT] = Pending(item)
        self._waiting.append(pending)
        if self._settler is None:
            self._settler = asyncio.create_task(self._settle_all())
        # Shielded: a caller that gives up leaves the batch (and its answer) be.
        return await asyncio.shield(pending.answer)

    def defer(self, pending: Pending[RequestT, AnswerT]) -> None:
        """Settle ``pending`` (a request of the batch being settled) with the next batch."""
        self._waiting.append(pending)

    async def _settle_batch(self, batch: list[Pending[RequestT, AnswerT]]) -> None:
        try:
            await self._settle(batch)
        except asyncio.CancelledError:
            for pending in batch:
                pending.answer.cancel()
            raise
        except Exception as error:
            for pending in batch:
                pending.fail(error)

    async def _settle_all(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self.limit], self._waiting[self.limit :]
                if self.overlap_after is None:
                    await self._settle_batch(batch)
                    continue
                settling = asyncio.create_task(self._settle_batch(batch))
                done, _ = await asyncio.wait({settling}, timeout=self.overlap_after)
                if not done:  # slow: it goes on alone, and the next batch goes now
                    self._overlapping.add(settling)
                    settling.add_done_callback(self._overlapping.discard)
        finally:
            self._settler = None
            for pending in self._waiting:  # only when cancelled (shutdown)
                pending.answer.cancel()
            self._waiting.clear()


# Calls answered_within stopped waiting for: referenced until they end.
_unanswered: set[asyncio.Future[object]] = set()


def _forget(future: asyncio.Future[object]) -> None:
    _unanswered.discard(future)
    if not future.cancelled():
        future.exception()  # retrieved: its caller no longer waits for it


async def answered_within(calls: Sequence[Awaitable[T]], patience: float) -> list[T | None]:
    """Each call's answer in order, or None for a call still running after ``patience``
    seconds: it goes on in the background and its answer is dropped (a batch call answers
    without waiting for one member held up by something of its own). The exception of a
    call that ended with one is raised."""
    futures = [asyncio.ensure_future(call) for call in calls]
    if futures:
        await asyncio.wait(futures, timeout=patience)
    answers: list[T | None] = []
    for future in futures:
        if not future.done():
            _unanswered.add(future)  # type: ignore[arg-type]
            future.add_done_callback(_forget)  # type: ignore[arg-type]
            answers.append(None)
        else:
            answers.append(future.result())  # raises the call's exception
    return answers
