"""Checks of the submission options that no single service owns (SubmitOptions)."""

from __future__ import annotations

from mediatasks.core.errors import invalid_input
from mediatasks.v1 import common_pb2

# The event types a task publishes, by their short names (webhook_events filters on them).
WEBHOOK_EVENT_NAMES = frozenset(
    {"created", "started", "progress", "log", "retrying", "completed", "failed", "cancelled"}
)


def check_webhook_events(options: common_pb2.SubmitOptions) -> None:
    """``webhook_events`` names known events (``task.completed`` or ``completed``) and comes
    with a ``webhook_url``; anything else would be accepted and never matter."""
    if options.webhook_events and not options.webhook_url:
        raise invalid_input("webhook_events needs a webhook_url to deliver them to", field="webhook_events")
    for name in options.webhook_events:
        if name.strip().lower().removeprefix("task.") not in WEBHOOK_EVENT_NAMES:
            raise invalid_input(
                f"webhook_events: {name!r} is not an event; use {', '.join(sorted(WEBHOOK_EVENT_NAMES))}"
                " (with or without the task. prefix)",
                field="webhook_events",
            )
