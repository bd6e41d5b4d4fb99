"""What becomes of a job's message for every way a delivery can end, without NATS."""

from __future__ import annotations

import pytest
from mediatasks.core.worker.settlement import (
    CAPACITY_RETRY_SECONDS,
    Action,
    Outcome,
    OutcomeKind,
    Settlement,
    settle,
    settlement_of,
)

K = OutcomeKind

# The whole table, written out: (outcome, settlement, mediatasks_jobs_total label).
EXPECTED: list[tuple[Outcome, Settlement, str | None]] = [
    (Outcome(K.NOT_STARTED_CAPACITY, 1.0), Settlement(Action.NAK_DELAY, 1.0), None),
    (Outcome(K.NOT_STARTED_OTHER), Settlement(Action.ACK), None),
    (Outcome(K.COMPLETED), Settlement(Action.ACK), "completed"),
    (Outcome(K.COMPLETE_REFUSED_STALE), Settlement(Action.LEAVE), "stale"),
    (Outcome(K.COMPLETE_REFUSED_CANCELLED), Settlement(Action.ACK), "stale"),
    (Outcome(K.CANCELLED), Settlement(Action.ACK), "cancelled"),
    (Outcome(K.FAILED_REQUEUED, 12.5), Settlement(Action.NAK_DELAY, 12.5), "retry"),
    (Outcome(K.FAILED_FINAL), Settlement(Action.ACK), "failed"),
    (Outcome(K.FAIL_REFUSED_STALE), Settlement(Action.LEAVE), "stale"),
    (Outcome(K.FAIL_REFUSED_CANCELLED), Settlement(Action.LEAVE), "stale"),
    # A superseded attempt never settles the message: it may be the newer attempt's.
    (Outcome(K.SUPERSEDED), Settlement(Action.LEAVE), "stale"),
    # A result the registry never recorded is not a failure: the job runs again.
    (Outcome(K.UNRECORDED), Settlement(Action.LEAVE), "unrecorded"),
    (Outcome(K.DEAD_LETTERED), Settlement(Action.TERM), "dead_lettered"),
    (Outcome(K.SHUTDOWN), Settlement(Action.NAK), "shutdown"),
    (Outcome(K.RUNTIME_CRASH), Settlement(Action.LEAVE), None),
]


def test_every_outcome_kind_is_in_the_table() -> None:
    assert {outcome.kind for outcome, _, _ in EXPECTED} == set(OutcomeKind)


@pytest.mark.parametrize(("outcome", "settlement", "label"), EXPECTED, ids=lambda v: getattr(v, "name", None))
def test_settlement_and_metric_label_of(outcome: Outcome, settlement: Settlement, label: str | None) -> None:
    assert settlement_of(outcome) == settlement
    assert outcome.settlement == settlement
    assert outcome.metric_label == label


def test_start_attempt_refusals() -> None:
    assert Outcome.not_started("CAPACITY") == Outcome(K.NOT_STARTED_CAPACITY, CAPACITY_RETRY_SECONDS)
    assert Outcome.not_started("CAPACITY").settlement == Settlement(Action.NAK_DELAY, 1.0)
    for reason in ("ALREADY_FINISHED", "TASK_CANCELLED", ""):
        assert Outcome.not_started(reason).settlement == Settlement(Action.ACK)
    # The registry counts started attempts and dead-letters; the worker then terms.
    assert Outcome.not_started("DEAD_LETTERED").settlement == Settlement(Action.TERM)


def test_fail_task_answers() -> None:
    requeued = Outcome.failed(requeued=True, retry_delay_seconds=0.4)
    assert requeued.settlement == Settlement(Action.NAK_DELAY, 0.4)
    assert Outcome.failed(requeued=False, retry_delay_seconds=0.0).settlement == Settlement(Action.ACK)


def test_registry_refusals_that_settle_and_those_that_do_not() -> None:
    assert Outcome.complete_refused("STALE_ATTEMPT") == Outcome(K.COMPLETE_REFUSED_STALE)
    assert Outcome.complete_refused("TASK_CANCELLED") == Outcome(K.COMPLETE_REFUSED_CANCELLED)
    assert Outcome.fail_refused("STALE_ATTEMPT") == Outcome(K.FAIL_REFUSED_STALE)
    assert Outcome.fail_refused("TASK_CANCELLED") == Outcome(K.FAIL_REFUSED_CANCELLED)
    # Anything else is an error of the attempt, not an answer: the caller raises it.
    for reason in ("UNAVAILABLE", "INTERNAL", "TASK_NOT_FOUND"):
        assert Outcome.complete_refused(reason) is None
        assert Outcome.fail_refused(reason) is None


class RecordingMessage:
    """Stands in for ``nats.aio.msg.Msg``: records the calls a settlement makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float | None]] = []

    async def ack(self) -> None:
        self.calls.append(("ack", None))

    async def nak(self, delay: float | None = None) -> None:
        self.calls.append(("nak", delay))

    async def term(self) -> None:
        self.calls.append(("term", None))


@pytest.mark.parametrize(
    ("settlement", "calls"),
    [
        (Settlement(Action.ACK), [("ack", None)]),
        (Settlement(Action.NAK), [("nak", None)]),
        (Settlement(Action.NAK_DELAY, 2.5), [("nak", 2.5)]),
        (Settlement(Action.TERM), [("term", None)]),
        (Settlement(Action.LEAVE), []),
    ],
    ids=lambda v: getattr(v, "action", None) and v.action.name,
)
async def test_settle_performs_the_settlement(settlement: Settlement, calls: list[tuple[str, float | None]]) -> None:
    msg = RecordingMessage()
    await settle(msg, settlement)
    assert msg.calls == calls


async def test_settle_of_each_outcome_makes_at_most_one_call() -> None:
    for outcome, _settlement, _label in EXPECTED:
        msg = RecordingMessage()
        await settle(msg, outcome.settlement)
        assert len(msg.calls) == (0 if outcome.settlement.action is Action.LEAVE else 1), outcome
