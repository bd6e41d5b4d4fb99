"""Task outputs stay small inline, whatever a job produced.

A result over :data:`INLINE_RESULT_LIMIT_BYTES` (a ten-hour transcript's 100,000 timed
words, a long subtitle file's text) would make every GetTask, list page, event and
webhook carry megabytes. Instead the whole result is stored as a JSON artifact (role
``result``) and the inline one becomes a summary: its lists are left out, long texts cut,
its scalars and artifacts kept; ``TaskOutput.result_truncated`` says so.
"""

from __future__ import annotations

import asyncio

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from mediatasks.core.artifacts import ArtifactStore
from mediatasks.v1 import common_pb2

INLINE_RESULT_LIMIT_BYTES = 256 * 1024
# What a cut text keeps: enough to recognise the transcript, not to hold it.
SUMMARY_CHARS = 2000
RESULT_ROLE = "result"


def summary_of(message: Message) -> Message:
    """A copy without repeated fields and with strings cut to :data:`SUMMARY_CHARS`;
    artifacts are kept whole (they are references, not content)."""
    summary = type(message)()
    summary.CopyFrom(message)
    _summarize(summary)
    return summary


def _summarize(message: Message) -> None:
    if isinstance(message, common_pb2.Artifact):
        return
    for field, value in message.ListFields():
        if _is_repeated(field):
            message.ClearField(field.name)
        elif field.type == FieldDescriptor.TYPE_STRING and len(value) > SUMMARY_CHARS:
            setattr(message, field.name, value[:SUMMARY_CHARS] + "…")
        elif field.type == FieldDescriptor.TYPE_BYTES and len(value) > SUMMARY_CHARS:
            message.ClearField(field.name)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            _summarize(value)


def _is_repeated(field: FieldDescriptor) -> bool:
    # protobuf 5 keeps ``label``; newer releases add ``is_repeated``.
    return bool(getattr(field, "is_repeated", field.label == FieldDescriptor.LABEL_REPEATED))


async def keep_inline_small(
    result: Message, artifacts: ArtifactStore, owner: str
) -> tuple[Message, common_pb2.Artifact | None]:
    """``result`` itself when it is small; else its summary and the artifact holding it
    whole."""
    if result.ByteSize() <= INLINE_RESULT_LIMIT_BYTES:
        return result, None
    # Printing 100,000 words takes seconds of CPU: off the event loop, whose heartbeats
    # keep the job's message from being redelivered meanwhile.
    whole = await asyncio.to_thread(_as_json, result)
    stored = await artifacts.put_bytes(
        whole, content_type="application/json", filename="result.json", owner=owner, role=RESULT_ROLE
    )
    return await asyncio.to_thread(summary_of, result), stored


def _as_json(result: Message) -> bytes:
    return json_format.MessageToJson(result, preserving_proto_field_name=True, indent=None).encode()
