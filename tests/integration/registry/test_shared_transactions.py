"""Concurrent state changes share transactions (real PostgreSQL): they commit together;
a change that refuses keeps its refusal to itself; a change that fails the shared
transaction costs the others a retry on their own, never their outcome; a row locked
elsewhere holds up only the change that needs it."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from mediatasks.core.db import create_engine
from mediatasks.core.errors import MediaTasksError
from mediatasks.registry import transactions as shared_transactions
from mediatasks.registry.transactions import SharedTransactions
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
async def shared(stack_settings):
    engine = create_engine(stack_settings)
    table = f"shared_probe_{uuid.uuid4().hex[:8]}"
    async with engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {table} (id integer PRIMARY KEY, tx bigint)"))
    yield SharedTransactions(engine), table
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP TABLE {table}"))
    await engine.dispose()


def writes(table: str, key: int):
    async def change(conn) -> int:
        statement = text(f"INSERT INTO {table} VALUES (:id, txid_current()) RETURNING tx")
        return int((await conn.execute(statement, {"id": key})).scalar_one())

    return change


async def test_concurrent_changes_commit_together(shared) -> None:
    transactions, table = shared
    txids = await asyncio.gather(*(transactions.run(writes(table, key)) for key in range(60)))
    assert len(set(txids)) < 10  # 60 changes, a few transactions (the first alone, then groups)
    async with transactions.engine.connect() as conn:
        assert (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 60


async def test_a_refusal_is_its_own_and_the_others_commit(shared) -> None:
    transactions, table = shared

    async def refuses(_conn) -> int:
        raise MediaTasksError(grpc.StatusCode.FAILED_PRECONDITION, "STALE_ATTEMPT", "not yours")

    answers = await asyncio.gather(
        *(transactions.run(writes(table, key)) for key in range(5)),
        transactions.run(refuses),
        *(transactions.run(writes(table, key)) for key in range(5, 10)),
        return_exceptions=True,
    )
    assert isinstance(answers[5], MediaTasksError) and answers[5].reason == "STALE_ATTEMPT"
    assert len({answer for index, answer in enumerate(answers) if index != 5}) < 10  # still shared
    async with transactions.engine.connect() as conn:
        assert (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 10


async def test_a_failing_change_costs_the_others_a_retry_only(shared) -> None:
    transactions, table = shared
    await transactions.run(writes(table, 1))
    answers = await asyncio.gather(
        *(transactions.run(writes(table, key)) for key in range(10, 15)),
        transactions.run(writes(table, 1)),  # the key exists: the shared transaction fails
        *(transactions.run(writes(table, key)) for key in range(15, 20)),
        return_exceptions=True,
    )
    assert isinstance(answers[5], IntegrityError)
    assert not any(isinstance(answer, BaseException) for index, answer in enumerate(answers) if index != 5)
    async with transactions.engine.connect() as conn:
        assert (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 11


async def test_a_row_locked_elsewhere_holds_up_only_its_change(shared, monkeypatch) -> None:
    monkeypatch.setattr(shared_transactions, "SHARED_LOCK_TIMEOUT_SECONDS", 0.3)
    transactions, table = shared
    await transactions.run(writes(table, 1))

    def touches(key: int):
        async def change(conn) -> int:
            await conn.execute(text(f"UPDATE {table} SET tx = 0 WHERE id = 1"))
            return key

        return change

    async with transactions.engine.connect() as holder:
        await holder.execute(text(f"SELECT * FROM {table} WHERE id = 1 FOR UPDATE"))  # held until rollback
        blocked = asyncio.ensure_future(transactions.run(touches(0)))
        await asyncio.sleep(0.05)  # the blocked change's shared transaction is waiting
        others = await asyncio.wait_for(
            asyncio.gather(*(transactions.run(writes(table, key)) for key in range(100, 110))), timeout=5
        )
        assert len(others) == 10 and not blocked.done()
        await holder.rollback()
    assert await asyncio.wait_for(blocked, timeout=5) == 0


async def locked_rows_of(table: str, conn, keys: list[int], lock_timeout: str) -> dict[int, object]:
    """The probe table's rows of ``keys``, locked, the lock timeout set in the same
    statement (as the registry's own lock statement does)."""
    rows = await conn.execute(
        text(
            f"SELECT * FROM {table} WHERE id = ANY(:ids) AND set_config('lock_timeout', :timeout, true) IS NOT NULL"
            " ORDER BY id FOR UPDATE"
        ),
        {"ids": keys, "timeout": lock_timeout},
    )
    return {row.id: row for row in rows}


async def test_rows_locked_up_front_wait_no_longer_than_the_lock_timeout(shared, monkeypatch) -> None:
    """The timeout the lock statement sets holds for its own locks: a row locked
    elsewhere stalls the shared transaction 0.3 s, then its changes run alone."""
    monkeypatch.setattr(shared_transactions, "SHARED_LOCK_TIMEOUT_SECONDS", 0.3)
    transactions, table = shared
    async with transactions.engine.begin() as conn:
        await conn.execute(text(f"INSERT INTO {table} VALUES (1, 10), (2, 20)"))

    async def lock_rows(conn, keys: list[int], lock_timeout: str) -> dict[int, object]:
        return await locked_rows_of(table, conn, keys, lock_timeout)

    locking = SharedTransactions(transactions.engine, lock_rows)

    def bumps(key: int):
        async def change(conn) -> int:
            await conn.execute(text(f"UPDATE {table} SET tx = tx + 1 WHERE id = :id"), {"id": key})
            return key

        return change

    await locking.run(bumps(2), lock=2)  # the next ones share a transaction
    async with transactions.engine.connect() as holder:
        await holder.execute(text(f"SELECT * FROM {table} WHERE id = 1 FOR UPDATE"))  # held until rollback
        first = asyncio.ensure_future(locking.run(bumps(2), lock=2))
        blocked = asyncio.ensure_future(locking.run(bumps(1), lock=1))
        began = asyncio.get_running_loop().time()
        # Shared with the blocked one, the first is answered once the group gave up
        # (0.3 s) and it ran alone: not held until the holder lets go.
        assert await asyncio.wait_for(first, timeout=5) == 2
        assert asyncio.get_running_loop().time() - began < 3
        assert not blocked.done()
        await holder.rollback()
    assert await asyncio.wait_for(blocked, timeout=5) == 1


async def test_changes_take_their_rows_locked_up_front_once(shared) -> None:
    transactions, table = shared
    async with transactions.engine.begin() as conn:
        await conn.execute(text(f"INSERT INTO {table} VALUES (1, 10), (2, 20), (3, 30)"))
    asked: list[list[int]] = []

    async def lock_rows(conn, keys: list[int], lock_timeout: str) -> dict[int, object]:
        asked.append(keys)
        return await locked_rows_of(table, conn, keys, lock_timeout)

    locking = SharedTransactions(transactions.engine, lock_rows)

    def bumps(key: int):
        async def change(conn) -> tuple[bool, int | None]:
            prefetched, row = shared_transactions.locked_row(conn, key)
            if not prefetched:
                row = (
                    await conn.execute(text(f"SELECT * FROM {table} WHERE id = :id FOR UPDATE"), {"id": key})
                ).first()
            await conn.execute(text(f"UPDATE {table} SET tx = tx + 1 WHERE id = :id"), {"id": key})
            return prefetched, row.tx if row is not None else None

        return change

    await locking.run(bumps(1), lock=1)  # the first runs at once, alone; the next three share one
    answers = await asyncio.gather(
        locking.run(bumps(3), lock=3), locking.run(bumps(2), lock=2), locking.run(bumps(3), lock=3)
    )
    assert asked == [[1], [2, 3]]  # each transaction's rows in one statement, in key order
    # The first change of row 3 took it locked up front; the second read it afresh and saw
    # the first's write; a key without a row is answered None, up front too.
    assert answers == [(True, 30), (True, 20), (False, 31)]
    assert await locking.run(bumps(99), lock=99) == (True, None)


async def test_deferred_writes_go_in_together_and_before_any_later_statement(shared) -> None:
    transactions, table = shared
    flushes: list[list[int]] = []

    async def write_deferred(conn, keys: list[int]) -> None:
        flushes.append(keys)
        statement = text(f"INSERT INTO {table} SELECT key, txid_current() FROM unnest(CAST(:keys AS integer[])) AS key")
        await conn.execute(statement, {"keys": keys})

    deferring = SharedTransactions(transactions.engine, write_deferred=write_deferred)

    def defers(key: int):
        async def change(conn) -> int:
            conn.defer(key)
            return key

        return change

    async def counts(conn) -> int:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())

    answers = await asyncio.gather(
        *(deferring.run(defers(key)) for key in range(10)),
        deferring.run(counts),
        *(deferring.run(defers(key)) for key in range(10, 20)),
    )
    # One transaction: the count saw the ten writes deferred before it, written as one
    # statement just before it ran; the other ten went in as one before COMMIT.
    assert answers[10] == 10
    assert flushes == [list(range(10)), list(range(10, 20))]
    async with transactions.engine.connect() as conn:
        rows = (await conn.execute(text(f"SELECT count(*), count(DISTINCT tx) FROM {table}"))).one()
    assert tuple(rows) == (20, 1)


async def test_a_failing_deferred_write_sends_each_change_alone_with_its_own_write(shared) -> None:
    transactions, table = shared
    await transactions.run(writes(table, 3))

    async def write_deferred(conn, keys: list[int]) -> None:
        statement = text(f"INSERT INTO {table} SELECT key, 0 FROM unnest(CAST(:keys AS integer[])) AS key")
        await conn.execute(statement, {"keys": keys})

    deferring = SharedTransactions(transactions.engine, write_deferred=write_deferred)

    def defers_or_writes(key: int):
        async def change(conn) -> int:
            if hasattr(conn, "defer"):
                conn.defer(key)
            else:  # alone: a plain connection, the change writes itself
                await conn.execute(text(f"INSERT INTO {table} VALUES (:id, 1)"), {"id": key})
            return key

        return change

    answers = await asyncio.gather(
        *(deferring.run(defers_or_writes(key)) for key in (1, 2, 3, 4)), return_exceptions=True
    )
    # Key 3 exists: the group's one write failed, nothing of it stayed, and each change
    # ran again alone: 3 fails on its own, the others are written.
    assert answers[0:2] == [1, 2] and answers[3] == 4
    assert isinstance(answers[2], IntegrityError)
    async with transactions.engine.connect() as conn:
        keys = (await conn.execute(text(f"SELECT id FROM {table} WHERE tx = 1 ORDER BY id"))).scalars().all()
    assert keys == [1, 2, 4]
