"""Sort orders and opaque page tokens for ListTasks (keyset paging)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

from mediatasks.core.errors import invalid_input

_SORTS = {
    "created_at": ("created_at", False),
    "-created_at": ("created_at", True),
    "updated_at": ("updated_at", False),
    "-updated_at": ("updated_at", True),
    "priority": ("priority_rank", False),
    "-priority": ("priority_rank", True),
}


def page_limit(limit: int, *, default: int, maximum: int) -> int:
    """A list call's ``limit``: 0 means ``default``; outside 1..``maximum`` is INVALID_INPUT."""
    value = limit or default
    if not 1 <= value <= maximum:
        raise invalid_input(f"limit must be between 1 and {maximum}", field="limit")
    return value


def sort_spec(sort: str) -> tuple[str, bool]:
    """(column, descending) for a sort parameter; newest first by default."""
    if not sort:
        return "created_at", True
    try:
        return _SORTS[sort]
    except KeyError:
        raise invalid_input(f"sort must be one of {', '.join(_SORTS)}", field="sort") from None


def encode_token(value, last_id: uuid.UUID, sort: str) -> str:
    if isinstance(value, dt.datetime):
        value = {"t": value.isoformat()}
    payload = {"v": value, "id": str(last_id), "s": sort}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_token(token: str, sort: str):
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded))
        value = payload["v"]
        if isinstance(value, dict):
            value = dt.datetime.fromisoformat(value["t"])
        if payload.get("s", "") != sort:
            raise ValueError("sort changed")
        return value, uuid.UUID(payload["id"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise invalid_input("page_token is not valid for this query", field="page_token") from None
