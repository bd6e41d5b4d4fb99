"""What becomes of a job's JetStream message, decided in one place.

The runtime turns each delivery into one :class:`Outcome` (how the attempt ended, as the
registry answered it); :func:`settlement_of` maps the outcome to one :class:`Settlement`
through a single table, and :func:`settle` performs it on the message. The outcome also
names the ``outcome`` label of ``mediatasks_jobs_total``, so the metric and the message
can never disagree.

Why each row is what it is:

* The message is acked only once the registry holds the task's new state (completed,
  failed for good, cancelled), so a worker dying in between means a redelivery, never a
  lost job; the registry is idempotent on the task id and fences attempts.
* A refusal for capacity (the owner's or the type's limit is full) is naked with a short
  delay: the job is fine, it just cannot start yet.
* A retryable failure is naked with the registry's backoff, which it computed from the
  attempt number and the retry schedule.
* An attempt that is not current any more (a newer delivery owns the task: the registry
  refused its progress, result or failure as stale) never acks, naks or terms: JetStream
  acks by stream sequence, so the message it holds is the very message the newer attempt
  is working from. AckWait redelivers it if nobody holds it any more. A FailTask refused
  because the task was cancelled meanwhile is left too; its redelivery is refused by
  StartAttempt and acked then.
* A cancelled attempt is acked only once the registry confirmed the task is cancelled.
* A result the registry could not record (it stayed unavailable for the whole retry
  budget) is not a failed job: the message is left, so AckWait redelivers it and the job
  runs again, instead of finished work being marked FAILED.
* A job whose attempts kept vanishing is dead-lettered by the registry (it counts the
  attempts that started, not deliveries, so capacity refusals, shutdowns and outages cost
  nothing); the worker copies it to the dead-letter stream and terminates the message.
* On worker shutdown the registry takes the job back (no attempt used) and the message is
  naked without delay so another worker takes it at once; after a crash of the runtime
  itself it is left for AckWait to redeliver.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from mediatasks.core.errors import CAPACITY, DEAD_LETTERED, STALE_ATTEMPT, TASK_CANCELLED

# A StartAttempt refused for CAPACITY is offered again after this long.
CAPACITY_RETRY_SECONDS = 1.0


class Action(enum.Enum):
    """What to do with the message."""

    ACK = "ack"
    NAK = "nak"
    NAK_DELAY = "nak_delay"
    TERM = "term"
    LEAVE = "leave"


@dataclass(frozen=True)
class Settlement:
    """An :class:`Action`, with the redelivery delay of ``NAK_DELAY``."""

    action: Action
    delay_seconds: float = 0.0


class OutcomeKind(enum.Enum):
    """How one delivery of a job ended."""

    NOT_STARTED_CAPACITY = enum.auto()  # StartAttempt: not now, the limits are full
    NOT_STARTED_OTHER = enum.auto()  # StartAttempt: never (already finished, cancelled, ...)
    COMPLETED = enum.auto()
    COMPLETE_REFUSED_STALE = enum.auto()  # CompleteTask: a newer attempt owns the task
    COMPLETE_REFUSED_CANCELLED = enum.auto()  # CompleteTask: cancelled meanwhile
    CANCELLED = enum.auto()  # the handler stopped on a cancellation
    FAILED_REQUEUED = enum.auto()  # FailTask: will be retried after a backoff
    FAILED_FINAL = enum.auto()  # FailTask: no retry left, or not retryable
    FAIL_REFUSED_STALE = enum.auto()  # FailTask: a newer attempt owns the task
    FAIL_REFUSED_CANCELLED = enum.auto()  # FailTask: cancelled meanwhile
    SUPERSEDED = enum.auto()  # ReportProgress: a newer attempt owns the task; stopped
    UNRECORDED = enum.auto()  # CompleteTask: the registry stayed unavailable
    DEAD_LETTERED = enum.auto()  # StartAttempt: too many attempts started and vanished
    SHUTDOWN = enum.auto()  # the worker stopped before the attempt ended
    RUNTIME_CRASH = enum.auto()  # the runtime itself failed (registry or NATS unreachable)


# The table: outcome -> (action, ``mediatasks_jobs_total`` outcome label or None when the
# delivery is not counted as a job run). NAK_DELAY takes its delay from the Outcome.
_TABLE: dict[OutcomeKind, tuple[Action, str | None]] = {
    OutcomeKind.NOT_STARTED_CAPACITY: (Action.NAK_DELAY, None),
    OutcomeKind.NOT_STARTED_OTHER: (Action.ACK, None),
    OutcomeKind.COMPLETED: (Action.ACK, "completed"),
    OutcomeKind.COMPLETE_REFUSED_STALE: (Action.LEAVE, "stale"),
    OutcomeKind.COMPLETE_REFUSED_CANCELLED: (Action.ACK, "stale"),
    OutcomeKind.CANCELLED: (Action.ACK, "cancelled"),
    OutcomeKind.FAILED_REQUEUED: (Action.NAK_DELAY, "retry"),
    OutcomeKind.FAILED_FINAL: (Action.ACK, "failed"),
    OutcomeKind.FAIL_REFUSED_STALE: (Action.LEAVE, "stale"),
    OutcomeKind.FAIL_REFUSED_CANCELLED: (Action.LEAVE, "stale"),
    OutcomeKind.SUPERSEDED: (Action.LEAVE, "stale"),
    OutcomeKind.UNRECORDED: (Action.LEAVE, "unrecorded"),
    OutcomeKind.DEAD_LETTERED: (Action.TERM, "dead_lettered"),
    OutcomeKind.SHUTDOWN: (Action.NAK, "shutdown"),
    OutcomeKind.RUNTIME_CRASH: (Action.LEAVE, None),
}


@dataclass(frozen=True)
class Outcome:
    """How a delivery ended; ``delay_seconds`` is when a naked-with-delay job comes back."""

    kind: OutcomeKind
    delay_seconds: float = 0.0

    @classmethod
    def not_started(cls, reason: str) -> Outcome:
        """StartAttempt answered ``proceed=false`` with ``reason``."""
        if reason == CAPACITY:
            return cls(OutcomeKind.NOT_STARTED_CAPACITY, CAPACITY_RETRY_SECONDS)
        if reason == DEAD_LETTERED:
            return cls(OutcomeKind.DEAD_LETTERED)
        return cls(OutcomeKind.NOT_STARTED_OTHER)

    @classmethod
    def failed(cls, *, requeued: bool, retry_delay_seconds: float) -> Outcome:
        """FailTask's answer: requeued (with the registry's backoff) or final."""
        if requeued:
            return cls(OutcomeKind.FAILED_REQUEUED, retry_delay_seconds)
        return cls(OutcomeKind.FAILED_FINAL)

    @classmethod
    def complete_refused(cls, reason: str) -> Outcome | None:
        """CompleteTask refused with ``reason``; ``None`` when that is not a settled answer
        (the refusal is then a failure of the attempt like any other error)."""
        return _refusal(reason, OutcomeKind.COMPLETE_REFUSED_STALE, OutcomeKind.COMPLETE_REFUSED_CANCELLED)

    @classmethod
    def fail_refused(cls, reason: str) -> Outcome | None:
        """FailTask refused with ``reason``; ``None`` when that is not a settled answer."""
        return _refusal(reason, OutcomeKind.FAIL_REFUSED_STALE, OutcomeKind.FAIL_REFUSED_CANCELLED)

    @property
    def settlement(self) -> Settlement:
        return settlement_of(self)

    @property
    def metric_label(self) -> str | None:
        """The ``outcome`` label of ``mediatasks_jobs_total``; ``None``: not counted."""
        return _TABLE[self.kind][1]


def _refusal(reason: str, stale: OutcomeKind, cancelled: OutcomeKind) -> Outcome | None:
    if reason == STALE_ATTEMPT:
        return Outcome(stale)
    if reason == TASK_CANCELLED:
        return Outcome(cancelled)
    return None


def settlement_of(outcome: Outcome) -> Settlement:
    """What to do with the message of a delivery that ended so."""
    action, _label = _TABLE[outcome.kind]
    if action is Action.NAK_DELAY:
        return Settlement(action, outcome.delay_seconds)
    return Settlement(action)


class JobMessage(Protocol):
    """The part of a JetStream message (``nats.aio.msg.Msg``) a settlement uses."""

    async def ack(self) -> None: ...

    async def nak(self, delay: float | None = None) -> None: ...

    async def term(self) -> None: ...


async def settle(msg: JobMessage, settlement: Settlement) -> None:
    """Perform ``settlement`` on ``msg``."""
    match settlement.action:
        case Action.ACK:
            await msg.ack()
        case Action.NAK:
            await msg.nak()
        case Action.NAK_DELAY:
            await msg.nak(delay=settlement.delay_seconds)
        case Action.TERM:
            await msg.term()
        case Action.LEAVE:
            pass
