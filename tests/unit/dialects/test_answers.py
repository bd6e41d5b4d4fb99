"""A dialect's answer: its JSON body with its status, marked for the gateway's Lua, and an
error's Retry-After."""

from __future__ import annotations

import asyncio
import json

import grpc
from mediatasks.core.errors import MediaTasksError
from mediatasks.dialects.answers import DIALECT_HEADER, answer_or_error


class Context:
    """Records what a servicer sends as initial metadata (the gRPC context's one call used)."""

    def __init__(self) -> None:
        self.initial: list[tuple[str, str]] = []

    async def send_initial_metadata(self, metadata) -> None:
        self.initial.extend(metadata)


def run(call) -> tuple[Context, dict]:
    context = Context()
    body = asyncio.run(answer_or_error(context, call, lambda error: {"error": error.message}))
    assert body.content_type == "application/json"
    return context, json.loads(body.data)


def test_a_plain_answer_sends_no_status():
    async def call():
        return 200, {"ok": True}

    context, document = run(call)
    assert document == {"ok": True} and context.initial == []


def test_another_status_is_marked_for_the_gateway():
    async def call():
        return 202, {"jobId": "x"}

    context, document = run(call)
    assert dict(context.initial) == {"x-http-status": "202", DIALECT_HEADER: "1"}


def test_an_error_answers_its_body_status_and_retry_after():
    async def call():
        raise MediaTasksError(
            grpc.StatusCode.RESOURCE_EXHAUSTED, "CONCURRENCY_LIMIT", "five at once", retry_after_seconds=2.2
        )

    context, document = run(call)
    assert document == {"error": "five at once"}
    assert dict(context.initial) == {"x-http-status": "429", DIALECT_HEADER: "1", "retry-after": "3"}
