"""Concurrent state changes share transactions (real PostgreSQL): they commit together;
a change that refuses keeps its refusal to itself; a change that fails the shared
transaction costs the others a retry on their own, never their outcome."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from mediatasks.core.db import create_engine
from mediatasks.core.errors import MediaTasksError
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
