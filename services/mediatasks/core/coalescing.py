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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

RequestT = TypeVar("RequestT")
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
    def __init__(self, settle: Settle[RequestT, AnswerT], limit: int) -> None:
        self._settle = settle
        self.limit = limit
        self._waiting: list[Pending[RequestT, AnswerT]] = []
        self._settler: asyncio.Task[None] | None = None

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

    async def _settle_all(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self.limit], self._waiting[self.limit :]
                try:
                    await self._settle(batch)
                except asyncio.CancelledError:
                    for pending in batch:
                        pending.answer.cancel()
                    raise
                except Exception as error:
                    for pending in batch:
                        pending.fail(error)
        finally:
            self._settler = None
            for pending in self._waiting:  # only when cancelled (shutdown)
                pending.answer.cancel()
            self._waiting.clear()
