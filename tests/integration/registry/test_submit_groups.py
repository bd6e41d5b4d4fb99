"""Group commit of submits (real PostgreSQL): a burst of concurrent submits far below the
owner's limit is written in groups, and each task is exactly what a submit of its own
writes: its row, its two log lines and its event and job, in order, once; a repeated
idempotency key inside a group or across groups answers with the first task; a group
that PostgreSQL refuses fails its submits without writing any of them."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from mediatasks.core.db import create_engine
from mediatasks.registry import submits
from mediatasks.registry.store import LOGS, OUTBOX, TASKS, TaskStore
from mediatasks.v1 import common_pb2, subtitle_pb2, tasks_pb2
from sqlalchemy import event, func, select

pytestmark = pytest.mark.asyncio(loop_scope="session")


def request(owner: str, key: str | None = None, text: str | None = None) -> tasks_pb2.CreateTaskRequest:
    created = tasks_pb2.CreateTaskRequest(
        task_type="video_caption",
        owner=owner,
        options=common_pb2.SubmitOptions(priority="high"),
        idempotency_key=key if key is not None else uuid.uuid4().hex,
    )
    created.input.Pack(subtitle_pb2.GenerateSubtitlesRequest(text=text or uuid.uuid4().hex))
    return created


@pytest.fixture
async def store(stack_settings, own_database_url):
    settings = stack_settings.model_copy(
        update={"owner_concurrency_limit": 1_000_000, "database_url": own_database_url}
    )
    engine = create_engine(settings)
    store = TaskStore(engine, settings)
    yield store
    await store.close()
    await engine.dispose()


async def counted(store: TaskStore, owner: str) -> None:
    """The first submit of an owner counts its active tasks (in a transaction of its own):
    the next second's submits may then join groups."""
    await store.create(request(owner))


def measure_groups(monkeypatch) -> list[int]:
    """The size of every submit group written from now on, in order."""
    sizes: list[int] = []
    original = submits.group_parameters

    def measured(group):
        sizes.append(len(group))
        return original(group)

    monkeypatch.setattr(submits, "group_parameters", measured)
    return sizes


async def test_a_burst_is_written_in_groups_each_task_whole(store, monkeypatch) -> None:
    owner = f"groups-{uuid.uuid4().hex[:6]}"
    await counted(store, owner)
    group_sizes = measure_groups(monkeypatch)
    answers = await asyncio.gather(*(store.create(request(owner)) for _ in range(120)))
    assert max(group_sizes) > 1 and sum(group_sizes) == 120  # grouped, and every submit in exactly one group
    ids = [uuid.UUID(task.task_id) for task, _ in answers]
    assert all(outgoing.jobs == 1 and outgoing.events == 1 for _, outgoing in answers)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(TASKS).where(TASKS.c.id.in_(ids)))).all()
        lines = (
            await conn.execute(
                select(LOGS.c.task_id, LOGS.c.message).where(LOGS.c.task_id.in_(ids)).order_by(LOGS.c.id)
            )
        ).all()
        outbox = (
            await conn.execute(
                select(OUTBOX.c.subject, OUTBOX.c.msg_id)
                .where(
                    OUTBOX.c.msg_id.in_([str(i) for i in ids])
                    | OUTBOX.c.subject.in_([f"mediatasks.events.{i}" for i in ids])
                )
                .order_by(OUTBOX.c.id)
            )
        ).all()
    assert len(rows) == 120
    task, _ = answers[7]
    row = next(row for row in rows if str(row.id) == task.task_id)
    assert (row.status, row.priority, row.stage, row.attempt, row.failures, row.error) == (
        "QUEUED",
        "high",
        "queued",
        0,
        0,
        None,
    )
    by_task: dict[uuid.UUID, list[str]] = {}
    for task_id, message in lines:
        by_task.setdefault(task_id, []).append(message)
    assert all(by_task[i] == ["created as video_caption", "queued (high priority, up to 3 attempts)"] for i in ids)
    # Per task: its task.created event, then its job (the relay publishes in this order).
    firsts: dict[str, str] = {}
    for subject, msg_id in outbox:
        task_id = subject.rsplit(".", 1)[-1] if subject.startswith("mediatasks.events.") else msg_id
        firsts.setdefault(task_id, subject)
    assert len(outbox) == 240
    assert all(subject.startswith("mediatasks.events.") for subject in firsts.values())


async def test_expired_counts_are_refreshed_once_for_a_whole_burst(store, monkeypatch) -> None:
    """When the last second's counts expire, the submits in flight wait for one refresh
    and still join groups: no submit counts in a transaction of its own."""
    owner = f"herd-{uuid.uuid4().hex[:6]}"
    await counted(store, owner)
    await asyncio.sleep(1.1)  # the counts are now stale
    counts: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        if "count(" in statement and owner in str(parameters):
            counts.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", before)
    group_sizes = measure_groups(monkeypatch)
    try:
        answers = await asyncio.gather(*(store.create(request(owner)) for _ in range(60)))
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", before)
    assert len({task.task_id for task, _ in answers}) == 60
    assert len(counts) == 1  # one count of the owner's active tasks for the 60 submits
    assert sum(group_sizes) == 60  # and every one of them went in a group


async def test_a_repeated_key_answers_with_the_first_task(store) -> None:
    owner = f"groups-{uuid.uuid4().hex[:6]}"
    await counted(store, owner)
    key = uuid.uuid4().hex
    same = request(owner, key, text="the same body")
    answers = await asyncio.gather(
        *(store.create(same) for _ in range(5)), *(store.create(request(owner)) for _ in range(20))
    )
    repeated = {task.task_id for task, _ in answers[:5]}
    assert len(repeated) == 1
    assert sum(outgoing.jobs for _, outgoing in answers[:5]) == 1  # one job, one event, for the one task
    again, outgoing = await store.create(same)
    assert again.task_id in repeated and outgoing.jobs == 0
    async with store.engine.connect() as conn:
        lines = (await conn.execute(select(func.count()).where(LOGS.c.task_id == uuid.UUID(again.task_id)))).scalar()
    assert lines == 2


async def test_a_lone_submit_writes_the_row_a_group_writes(store, monkeypatch) -> None:
    owner = f"groups-{uuid.uuid4().hex[:6]}"
    await counted(store, owner)
    group_sizes = measure_groups(monkeypatch)
    text = uuid.uuid4().hex
    lone, _ = await store.create(request(owner, text=text))
    grouped = await asyncio.gather(*(store.create(request(owner, text=text)) for _ in range(6)))
    assert group_sizes[0] == 1 and max(group_sizes) > 1, group_sizes
    async with store.engine.connect() as conn:
        rows = {
            str(row.id): row._asdict()
            for row in (await conn.execute(select(TASKS).where(TASKS.c.owner == owner))).all()
        }
    differ = {"id", "idempotency_key", "created_at", "updated_at", "expires_at"}

    def same_part(task_id: str) -> dict:
        return {name: value for name, value in rows[task_id].items() if name not in differ}

    assert all(same_part(lone.task_id) == same_part(task.task_id) for task, _ in grouped)
    # Too long for its column, alone too: refused, not cut to fit, and nothing written.
    with pytest.raises(Exception, match="too long"):
        await store.create(request(owner, key="k" * 300))
    async with store.engine.connect() as conn:
        stored = (await conn.execute(select(func.count()).where(TASKS.c.owner == owner))).scalar()
    assert stored == 1 + 1 + 6


async def test_a_refused_group_fails_only_its_bad_submit(store) -> None:
    owner = f"groups-{uuid.uuid4().hex[:6]}"
    await counted(store, owner)
    # A key over its column's 255 characters: PostgreSQL refuses the whole group's statement.
    answers = await asyncio.gather(
        *(store.create(request(owner)) for _ in range(3)),
        store.create(request(owner, key="k" * 300)),
        *(store.create(request(owner)) for _ in range(3)),
        return_exceptions=True,
    )
    assert [isinstance(answer, BaseException) for answer in answers] == [False] * 3 + [True] + [False] * 3
    async with store.engine.connect() as conn:
        stored = (await conn.execute(select(func.count()).where(TASKS.c.owner == owner))).scalar()
    assert stored == 1 + 6


async def test_a_key_held_by_another_transaction_holds_its_group_two_seconds_at_most(store, monkeypatch) -> None:
    owner = f"groups-{uuid.uuid4().hex[:6]}"
    await counted(store, owner)
    key = uuid.uuid4().hex
    async with store.engine.connect() as conn:
        template = dict((await conn.execute(select(TASKS).where(TASKS.c.owner == owner))).mappings().one())
    group_sizes = measure_groups(monkeypatch)
    answered: list[str] = []

    async def submit(created: tasks_pb2.CreateTaskRequest, name: str):
        task, _ = await store.create(created)
        answered.append(name)
        return task

    holder = await store.engine.connect()
    transaction = await holder.begin()
    try:
        # Another transaction inserts the key and does not commit yet.
        await holder.execute(TASKS.insert().values({**template, "id": uuid.uuid4(), "idempotency_key": key}))
        submitted = [asyncio.create_task(submit(request(owner, key), "held"))]
        submitted += [asyncio.create_task(submit(request(owner), f"free{n}")) for n in range(6)]
        # The free submits of the held one's group give up on it and go alone, while the
        # key is still held: none waits for the other transaction.
        async with asyncio.timeout(15):
            while len(answered) < 6:
                await asyncio.sleep(0.05)
        assert "held" not in answered
    finally:
        await transaction.rollback()
        await holder.close()
    tasks = await asyncio.gather(*submitted)
    assert answered[-1] == "held"
    assert sum(group_sizes) >= 7
    async with store.engine.connect() as conn:
        # Its own task, written once the key was free.
        keyed = (
            await conn.execute(select(TASKS.c.id).where(TASKS.c.owner == owner, TASKS.c.idempotency_key == key))
        ).all()
    assert [str(row.id) for row in keyed] == [tasks[0].task_id]


def running_counts(engine) -> list[str]:
    """Collects the statements that count a type's running tasks (the capacity check)."""
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        if "count(" in statement and "PROCESSING" in str(parameters):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    return seen


# Near the cap (20), each start counts, takes the type's lock and counts again.
@pytest.mark.parametrize(("capacity", "counts"), [(1_000_000, 1), (20, 24)])
async def test_starts_far_below_a_types_capacity_count_once_a_second(
    stack_settings, own_database_url, capacity, counts
) -> None:
    settings = stack_settings.model_copy(
        update={"owner_concurrency_limit": 1_000_000, "database_url": own_database_url, "capacity_per_type": capacity}
    )
    engine = create_engine(settings)
    try:
        store = TaskStore(engine, settings)
        owner = f"starts-{uuid.uuid4().hex[:6]}"
        created = [await store.create(request(owner)) for _ in range(12)]
        seen = running_counts(engine)
        answers = [
            await store.start_attempt(
                tasks_pb2.StartAttemptRequest(task_id=task.task_id, worker_id="w", delivery_count=1)
            )
            for task, _ in created
        ]
        assert all(answer.proceed for answer in answers)
        assert len(seen) == counts  # far below the cap, the first start's count serves the next second's
    finally:
        async with engine.begin() as conn:  # these running tasks must not use up the type's capacity elsewhere
            await conn.execute(TASKS.delete().where(TASKS.c.owner.like("starts-%")))
        await engine.dispose()
