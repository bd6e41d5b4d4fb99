"""What the end-to-end tests do over REST again and again."""

from __future__ import annotations

import time

import httpx

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
