"""Client metadata: any JSON object stored with a task, within size limits.

Seed clients send numbers, lists and nested objects as metadata; the task keeps them as
they came (a ``google.protobuf.Struct``) and echoes them in answers, events and webhooks.
The limits keep a task row, and every event that carries it, small.
"""

from __future__ import annotations

import json

import grpc
from google.protobuf import json_format, struct_pb2

from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import Settings


def _measure(value: object, depth: int) -> tuple[int, int]:
    """(deepest nesting below ``value``, keys within it)."""
    if isinstance(value, dict):
        deepest, keys = depth, len(value)
        for item in value.values():
            d, k = _measure(item, depth + 1)
            deepest, keys = max(deepest, d), keys + k
        return deepest, keys
    if isinstance(value, list):
        deepest, keys = depth, 0
        for item in value:
            d, k = _measure(item, depth + 1)
            deepest, keys = max(deepest, d), keys + k
        return deepest, keys
    return depth - 1, 0


def _limit_error(message: str, limit_name: str, limit: int) -> MediaTasksError:
    return MediaTasksError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "METADATA_TOO_LARGE",
        message,
        metadata={"field": "metadata", "limit": limit_name, limit_name: str(limit)},
    )


def check_metadata(metadata: struct_pb2.Struct, settings: Settings) -> dict:
    """The metadata as a plain JSON object, or INVALID_ARGUMENT naming the limit it breaks
    (``metadata_max_bytes``, ``metadata_max_depth`` or ``metadata_max_keys``)."""
    if not metadata.fields:  # nearly every submit: nothing to measure
        return {}
    as_json = json_format.MessageToDict(metadata)
    size = len(json.dumps(as_json, separators=(",", ":"), ensure_ascii=False).encode())
    if size > settings.metadata_max_bytes:
        raise _limit_error(
            f"metadata is {size} bytes as JSON; the limit is {settings.metadata_max_bytes} "
            f"({settings.env_name('metadata_max_bytes')})",
            "max_bytes",
            settings.metadata_max_bytes,
        )
    depth, keys = _measure(as_json, 1)
    if depth > settings.metadata_max_depth:
        raise _limit_error(
            f"metadata nests {depth} levels deep; the limit is {settings.metadata_max_depth} "
            f"({settings.env_name('metadata_max_depth')})",
            "max_depth",
            settings.metadata_max_depth,
        )
    if keys > settings.metadata_max_keys:
        raise _limit_error(
            f"metadata holds {keys} keys; the limit is {settings.metadata_max_keys} "
            f"({settings.env_name('metadata_max_keys')})",
            "max_keys",
            settings.metadata_max_keys,
        )
    return as_json


def metadata_struct(value: dict | None) -> struct_pb2.Struct:
    """A stored metadata object as a Struct (rows written before metadata was any JSON
    object hold string values, which are JSON too)."""
    message = struct_pb2.Struct()
    if value:
        message.update(value)
    return message
