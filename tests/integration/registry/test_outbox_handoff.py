"""The outbox rows of a commit handed straight to the relay (real PostgreSQL and
JetStream): a submit's and a start's messages reach JetStream and leave the table without
a relay round, the deletes of many commits' rows grouped; a rolled-back transaction hands nothing; a handed row JetStream refuses
stays in the table for the round, which parks it, while the others are published once;
rows whose delete PostgreSQL could not take are deleted once it is back; a round on the
timer leaves the rows still on their way through a hand-off."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid

import nats
import pytest
from mediatasks.core import topology
from mediatasks.core.db import create_engine
from mediatasks.devstack.embedded_postgres import EmbeddedPostgres
from mediatasks.registry import handoff, migrate
from mediatasks.registry.convert import utcnow
from mediatasks.registry.outbox import OUTBOX, OutboxRelay
from mediatasks.registry.store import TaskStore
from mediatasks.v1 import common_pb2, subtitle_pb2, tasks_pb2
from sqlalchemy import event, func, select

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def settings(stack_settings, own_database_url):
    return stack_settings.model_copy(update={"owner_concurrency_limit": 1_000_000, "database_url": own_database_url})


def statements(engine, marker: str) -> list[str]:
    """The statements containing ``marker`` run on ``engine`` from now on."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        if marker in statement:
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    return seen


def submit(owner: str) -> tasks_pb2.CreateTaskRequest:
    created = tasks_pb2.CreateTaskRequest(
        task_type="subtitle_generation",
        owner=owner,
        options=common_pb2.SubmitOptions(priority="low"),
        idempotency_key=uuid.uuid4().hex,
    )
    created.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=uuid.uuid4().hex))
    return created


async def last_event(js, task_id: str) -> tasks_pb2.TaskEvent | None:
    try:
        message = await js.get_last_msg(topology.EVENTS_STREAM, topology.event_subject(task_id))
    except nats.js.errors.NotFoundError:
        return None
    return tasks_pb2.TaskEvent.FromString(message.data)


async def outbox_rows(engine, marker: str = "") -> int:
    """Rows in the outbox (whose msg_id starts with ``marker``)."""
    async with engine.connect() as conn:
        query = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.msg_id.startswith(marker))
        return (await conn.execute(query)).scalar_one()


async def test_committed_rows_are_published_and_deleted_without_a_relay_round(
    registry_service, settings, nats_url
) -> None:
    engine = create_engine(settings)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    store = TaskStore(engine, settings)
    # Rounds only on a timer that never comes within the test, after the first.
    relay = OutboxRelay(engine, nc, poll_seconds=3600)
    handed: list[int] = []

    def hand_off(rows: list[dict]) -> None:
        handed.append(len(rows))
        relay.hand_off(rows)

    store.hand_off = hand_off
    running = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.2)  # the first round, over an empty table
        rounds = statements(engine, "FOR UPDATE SKIP LOCKED")
        deletes = statements(engine, "DELETE FROM outbox WHERE msg_id")
        owner = f"handoff-{uuid.uuid4().hex[:6]}"
        # Workers of other tests may take the jobs from the stream: a plain subscription
        # sees each one published.
        published_jobs: set[str] = set()

        async def on_job(message) -> None:
            published_jobs.add(tasks_pb2.Job.FromString(message.data).task_id)

        watching = await nc.subscribe(topology.job_subject("subtitle_generation", "low"), cb=on_job)
        created = await asyncio.gather(*(store.create(submit(owner)) for _ in range(40)))
        tasks = [task for task, _ in created]
        # One start goes through a shared transaction.
        started = await store.start_attempt(
            tasks_pb2.StartAttemptRequest(task_id=tasks[0].task_id, worker_id="w1", delivery_count=1)
        )
        assert started.proceed
        async with asyncio.timeout(15):
            while await outbox_rows(engine):
                await asyncio.sleep(0.05)
        events = [await last_event(js, task.task_id) for task in tasks]
        assert [e.event_type for e in events] == ["task.started"] + ["task.created"] * 39
        async with asyncio.timeout(5):
            while not published_jobs >= {task.task_id for task in tasks}:
                await asyncio.sleep(0.05)
        await watching.unsubscribe()
        assert rounds == []  # none of it waited for a round
        assert sum(handed) == 40 * 2 + 1  # each task's job and event, and the start's event
        assert 1 <= len(deletes) < len(handed)  # the deletes of many commits' rows grouped
    finally:
        await relay.stop()
        await running
        await nc.close()
        await engine.dispose()


async def test_a_rolled_back_transaction_hands_nothing_off(settings) -> None:
    engine = create_engine(settings)  # a pool of its own: the second transaction reuses the connection
    handed: list[list[dict]] = []
    row = {"subject": "mediatasks.events.x", "msg_id": uuid.uuid4().hex, "payload": b"", "created_at": utcnow()}
    try:
        with pytest.raises(RuntimeError):
            async with handoff.transaction(engine, handed.append) as conn:
                handoff.remember(conn, [row])
                raise RuntimeError("the change failed")
        async with handoff.transaction(engine, handed.append) as conn:
            handoff.remember(conn, [{**row, "msg_id": "second"}])
        assert [[one["msg_id"] for one in rows] for rows in handed] == [["second"]]
    finally:
        await engine.dispose()


async def test_a_handed_row_jetstream_refuses_waits_for_the_round_which_parks_it(
    registry_service, settings, nats_url
) -> None:
    engine = create_engine(settings)
    nc = await nats.connect(nats_url)
    relay = OutboxRelay(engine, nc, poll_seconds=3600)
    marker = uuid.uuid4().hex
    rows = [
        {"subject": f"mediatasks.events.{marker}", "msg_id": f"{marker}-{n}", "payload": b"ok", "created_at": utcnow()}
        for n in range(3)
    ]
    # Over NATS's default max_payload of 1 MiB.
    rows.insert(1, {**rows[0], "msg_id": f"{marker}-big", "payload": b"x" * (2 * 1024 * 1024)})
    try:
        async with handoff.transaction(engine, relay.hand_off) as conn:
            await conn.execute(OUTBOX.insert(), rows)
            handoff.remember(conn, rows)
        assert not relay._wake.is_set()
        await relay.relay_handed(relay._handed)
        await relay.delete_published()
        async with engine.connect() as conn:
            left = (await conn.execute(select(OUTBOX.c.msg_id).where(OUTBOX.c.msg_id.like(f"{marker}%")))).all()
        assert [row.msg_id for row in left] == [f"{marker}-big"]
        assert relay._wake.is_set()  # the round is asked for
        await relay.relay_once()
        async with engine.connect() as conn:
            parked = (await conn.execute(select(OUTBOX.c.park_reason).where(OUTBOX.c.msg_id == f"{marker}-big"))).one()
        assert "max_payload" in parked.park_reason
        js = nc.jetstream()
        stored = await js.get_last_msg(topology.EVENTS_STREAM, f"mediatasks.events.{marker}")
        info = await js.stream_info(topology.EVENTS_STREAM, subjects_filter=f"mediatasks.events.{marker}")
        assert stored.data == b"ok" and info.state.subjects == {f"mediatasks.events.{marker}": 3}
    finally:
        await nc.close()
        await engine.dispose()


async def test_published_rows_are_deleted_once_postgresql_is_back(
    registry_service, stack_settings, nats_url, postgres_state_dir
) -> None:
    database = EmbeddedPostgres(postgres_state_dir)
    url = database.start()
    settings = stack_settings.model_copy(update={"database_url": url})
    migrate.upgrade(settings)
    engine = create_engine(settings)
    nc = await nats.connect(nats_url)
    relay = OutboxRelay(engine, nc, poll_seconds=3600)
    running = asyncio.create_task(relay.run())
    restarted = None
    marker = uuid.uuid4().hex
    rows = [
        {"subject": f"mediatasks.events.{marker}", "msg_id": f"{marker}-{n}", "payload": b"ok", "created_at": utcnow()}
        for n in range(3)
    ]
    try:
        await asyncio.sleep(0.2)  # the first round, over an empty table
        async with engine.begin() as conn:
            await conn.execute(OUTBOX.insert(), rows)
        database.stop()
        relay.hand_off(rows)  # as if committed just before PostgreSQL went away
        js = nc.jetstream()
        async with asyncio.timeout(10):  # published, though their delete fails
            while not (
                await js.stream_info(topology.EVENTS_STREAM, subjects_filter=f"mediatasks.events.{marker}")
            ).state.subjects:
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)  # a failed delete or two
        restarted = EmbeddedPostgres(postgres_state_dir, port=database.port)
        restarted.start()
        async with asyncio.timeout(15):
            while True:
                with contextlib.suppress(Exception):  # the pool's connections died with the server
                    if not await outbox_rows(engine):
                        break
                await asyncio.sleep(0.1)
        info = await js.stream_info(topology.EVENTS_STREAM, subjects_filter=f"mediatasks.events.{marker}")
        assert info.state.subjects == {f"mediatasks.events.{marker}": 3}  # each once
    finally:
        await relay.stop()
        await running
        await nc.close()
        await engine.dispose()
        (restarted or database).stop()


async def test_a_round_on_the_timer_leaves_rows_still_on_their_way(registry_service, settings, nats_url) -> None:
    engine = create_engine(settings)
    nc = await nats.connect(nats_url)
    relay = OutboxRelay(engine, nc, poll_seconds=0.1)
    running = asyncio.create_task(relay.run())
    marker = uuid.uuid4().hex

    def rows(kind: str, created_at) -> list[dict]:
        subject = f"mediatasks.events.{marker}-{kind}"
        return [
            {"subject": subject, "msg_id": f"{marker}-{kind}-{n}", "payload": b"ok", "created_at": created_at}
            for n in range(2)
        ]

    try:
        await asyncio.sleep(0.3)  # the first round, which takes every row, is over
        now = utcnow()
        # Rows a relay's hand-off holds (just committed), and rows left by a dead replica.
        on_their_way = rows("young", now)
        left = rows("old", now - dt.timedelta(minutes=5))
        async with engine.begin() as conn:
            await conn.execute(OUTBOX.insert(), on_their_way + left)
        async with asyncio.timeout(10):
            while True:
                async with engine.connect() as conn:
                    kept = (await conn.execute(select(OUTBOX.c.msg_id).where(OUTBOX.c.msg_id.like(f"{marker}%")))).all()
                if {row.msg_id for row in kept} == {row["msg_id"] for row in on_their_way}:
                    break
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # five more rounds on the timer
        async with engine.connect() as conn:
            kept = (await conn.execute(select(OUTBOX.c.msg_id).where(OUTBOX.c.msg_id.like(f"{marker}%")))).all()
        assert {row.msg_id for row in kept} == {row["msg_id"] for row in on_their_way}
        relay.kick()  # a round woken for a reason takes them too
        async with asyncio.timeout(10):
            while await outbox_rows(engine, marker):
                await asyncio.sleep(0.05)
    finally:
        await relay.stop()
        await running
        await nc.close()
        await engine.dispose()
