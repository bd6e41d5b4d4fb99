"""What the end-to-end tests do over REST again and again."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from mediatasks.core.settings import Settings
from mediatasks.devstack.embedded_nats import EmbeddedNats
from mediatasks.devstack.embedded_postgres import create_database, drop_database
from mediatasks.devstack.stack import Stack

FINISHED = ("COMPLETED", "FAILED", "CANCELLED")


def wait_for(client: httpx.Client, task_id: str, statuses=FINISHED, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/v1/media/tasks/{task_id}")
        assert response.status_code == 200, response.text
        task = response.json()
        if task["status"] in statuses:
            return task
        assert time.monotonic() < deadline, f"task {task_id} still {task['status']} ({task['stage']})"
        time.sleep(0.1)


def upload(client: httpx.Client, data: bytes, content_type: str, filename: str = "upload") -> str:
    response = client.post(
        "/api/v1/media/uploads", content=data, headers={"content-type": content_type, "x-filename": filename}
    )
    assert response.status_code == 200, response.text
    return response.json()["artifact_id"]


def error_reason(response: httpx.Response) -> str:
    body = response.json()
    return next(d["reason"] for d in body["details"] if d["@type"].endswith("google.rpc.ErrorInfo"))


@contextlib.contextmanager
def isolated_stack(postgres_server, name: str, **stack_options) -> Iterator[Stack]:
    """A whole stack on a NATS server and a database of its own, so its workers and
    events never mix with another stack's or with the integration tests' services."""
    database = f"{name}_{uuid.uuid4().hex[:8]}"
    url = create_database(postgres_server.server_url, database)
    state = Path(tempfile.mkdtemp(prefix=f"mediatasks-{name}-"))
    nats = EmbeddedNats(state / "nats")
    nats.start()
    stack = Stack(state, settings=Settings(nats_url=nats.url, database_url=url), **stack_options)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        nats.stop()
        drop_database(postgres_server.server_url, database)
        # MEDIATASKS_KEEP_STACK_STATE=1 keeps the services' logs for a failing test.
        if not os.environ.get("MEDIATASKS_KEEP_STACK_STATE"):
            shutil.rmtree(state, ignore_errors=True)
