"""Concurrent requests are settled together; a lone one at once; failures reach each caller."""

from __future__ import annotations

import asyncio

import pytest
from mediatasks.core.coalescing import Coalescer, Pending, answered_within


class Recorder:
    """A settle that answers each request with its double after a pause, recording batches."""

    def __init__(self, pause: float = 0.01) -> None:
        self.batches: list[list[int]] = []
        self.pause = pause

    async def __call__(self, batch: list[Pending[int, int]]) -> None:
        self.batches.append([pending.item for pending in batch])
        await asyncio.sleep(self.pause)
        for pending in batch:
            pending.resolve(pending.item * 2)


async def test_a_lone_request_is_settled_at_once_and_alone() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder, limit=8)
    assert await coalescer.submit(3) == 6
    assert recorder.batches == [[3]]


async def test_requests_arriving_while_a_batch_is_settled_go_together_within_the_limit() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder, limit=8)
    answers = await asyncio.gather(*(coalescer.submit(n) for n in range(20)))
    assert answers == [n * 2 for n in range(20)]
    # Submitted in one go: batches of at most 8, in order.
    assert [len(batch) for batch in recorder.batches] == [8, 8, 4]
    assert sorted(n for batch in recorder.batches for n in batch) == list(range(20))


async def test_a_settle_that_raises_fails_the_requests_it_left_unanswered_and_the_next_batch_goes_on() -> None:
    batches = 0

    async def settle(batch: list[Pending[int, int]]) -> None:
        nonlocal batches
        batches += 1
        if batches == 1:
            for pending in batch:
                pending.resolve(pending.item)
            return
        batch[0].resolve(batch[0].item)
        if batches == 2:
            raise ConnectionError("registry gone")
        for pending in batch:
            pending.resolve(pending.item)

    coalescer = Coalescer(settle, limit=2)
    results = await asyncio.gather(*(coalescer.submit(n) for n in range(5)), return_exceptions=True)
    # Batches [0, 1], [2, 3] (3 left unanswered when it raised), [4].
    assert results[:3] == [0, 1, 2]
    assert isinstance(results[3], ConnectionError)
    assert results[4] == 4


async def test_settle_raising_fails_the_callers_with_its_error() -> None:
    async def settle(batch: list[Pending[int, int]]) -> None:
        raise ConnectionError("registry gone")

    coalescer = Coalescer(settle, limit=4)
    results = await asyncio.gather(*(coalescer.submit(n) for n in range(3)), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)


async def test_a_caller_that_gives_up_leaves_the_others_answers() -> None:
    recorder = Recorder(pause=0.05)
    coalescer = Coalescer(recorder, limit=8)
    impatient = asyncio.create_task(coalescer.submit(1))
    patient = asyncio.create_task(coalescer.submit(2))
    await asyncio.sleep(0.01)
    impatient.cancel()
    assert await patient == 4
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_a_deferred_request_is_settled_with_the_next_batch() -> None:
    batches: list[list[int]] = []
    coalescer: Coalescer[int, int]

    async def settle(batch: list[Pending[int, int]]) -> None:
        batches.append([pending.item for pending in batch])
        seen = set()
        for pending in batch:
            if pending.item in seen:
                coalescer.defer(pending)  # one per key a batch
                continue
            seen.add(pending.item)
            pending.resolve(len(batches))

    coalescer = Coalescer(settle, limit=8)
    holder = asyncio.create_task(coalescer.submit(0))
    await asyncio.sleep(0)
    twins = await asyncio.gather(coalescer.submit(7), coalescer.submit(7))
    await holder
    assert batches == [[0], [7, 7], [7]]
    assert twins == [2, 3]


async def test_a_slow_batch_holds_up_the_next_one_only_as_long_as_the_overlap() -> None:
    release = asyncio.Event()
    batches: list[list[int]] = []

    async def settle(batch: list[Pending[int, int]]) -> None:
        batches.append([pending.item for pending in batch])
        if batch[0].item == 0:
            await release.wait()  # held up by something of its own
        for pending in batch:
            pending.resolve(pending.item)

    coalescer = Coalescer(settle, limit=8, overlap_after=0.05)
    slow = asyncio.create_task(coalescer.submit(0))
    await asyncio.sleep(0.01)
    assert await asyncio.wait_for(asyncio.gather(coalescer.submit(1), coalescer.submit(2)), timeout=2) == [1, 2]
    assert not slow.done()
    release.set()
    assert await slow == 0
    assert batches == [[0], [1, 2]]


async def test_without_overlap_batches_wait_for_each_other() -> None:
    release = asyncio.Event()

    async def settle(batch: list[Pending[int, int]]) -> None:
        if batch[0].item == 0:
            await release.wait()
        for pending in batch:
            pending.resolve(pending.item)

    coalescer = Coalescer(settle, limit=8)
    slow = asyncio.create_task(coalescer.submit(0))
    await asyncio.sleep(0.01)
    later = asyncio.create_task(coalescer.submit(1))
    await asyncio.sleep(0.1)
    assert not later.done()
    release.set()
    assert await asyncio.gather(slow, later) == [0, 1]


async def test_answered_within_leaves_a_slow_call_running_and_raises_a_failed_one() -> None:
    finished = asyncio.Event()

    async def quick(value: int) -> int:
        return value

    async def slow() -> int:
        await asyncio.sleep(0.2)
        finished.set()
        return -1

    assert await answered_within([quick(1), slow(), quick(3)], patience=0.05) == [1, None, 3]
    await asyncio.wait_for(finished.wait(), timeout=2)  # it went on in the background

    async def broken() -> int:
        raise ConnectionError("database gone")

    with pytest.raises(ConnectionError):
        await answered_within([quick(1), broken()], patience=0.05)
    assert await answered_within([], patience=0.05) == []
