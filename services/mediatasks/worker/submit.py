"""Submitting background tasks from Python: the seed's convenience functions over the
REST API (``/api/background/``), with httpx only.

::

    from mediatasks.worker.submit import BackgroundClient

    with BackgroundClient("http://localhost:8080", api_key) as client:
        task = client.submit_document_processing("doc_123", "Conteúdo...", chunk_size=1000)
        done = client.wait(task["task_id"])
"""

from __future__ import annotations

import time
from typing import Any

import httpx

FINISHED = ("completed", "failed", "cancelled")


class BackgroundError(Exception):
    """The API refused a call: its HTTP status, ErrorInfo reason and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message


def _raise_for(response: httpx.Response) -> dict[str, Any]:
    body = response.json() if response.content else {}
    if response.status_code >= 400:
        reason = next(
            (d.get("reason", "") for d in body.get("details", []) if str(d.get("@type", "")).endswith("ErrorInfo")),
            "",
        )
        raise BackgroundError(response.status_code, reason, body.get("message", response.text))
    return body


class BackgroundClient:
    """Submit, read, wait for and cancel background tasks."""

    def __init__(self, base_url: str, api_key: str = "", *, timeout: float = 30.0) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def __enter__(self) -> BackgroundClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _post(self, path: str, body: dict[str, Any], idempotency_key: str = "") -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return _raise_for(self._http.post(path, json=body, headers=headers))

    def submit(
        self,
        task_type: str,
        payload: dict[str, Any] | None = None,
        *,
        name: str = "",
        priority: str = "",
        metadata: dict[str, str] | None = None,
        idempotency_key: str = "",
    ) -> dict[str, Any]:
        """Submit a task of any registered type; the task as accepted (``status: pending``)."""
        body: dict[str, Any] = {"task_type": task_type, "payload": payload or {}, "name": name, "priority": priority}
        if metadata:
            body["metadata"] = metadata
        return self._post("/api/background/tasks", body, idempotency_key)

    def submit_document_processing(
        self, document_id: str, content: str, *, chunk_size: int = 0, chunk_overlap: int = 0, priority: str = ""
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"document_id": document_id, "content": content, "priority": priority}
        if chunk_size:
            body["chunk_size"] = chunk_size
        if chunk_overlap:
            body["chunk_overlap"] = chunk_overlap
        return self._post("/api/background/tasks/document-processing", body)

    def submit_webhook_delivery(
        self,
        webhook_url: str,
        data: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
        sign_payload: bool = False,
        priority: str = "",
    ) -> dict[str, Any]:
        body = {
            "webhook_url": webhook_url,
            "data": data,
            "headers": headers or {},
            "sign_payload": sign_payload,
            "priority": priority,
        }
        return self._post("/api/background/tasks/webhook-delivery", body)

    def submit_n8n_sync(self, sync_type: str, data: dict[str, Any], *, priority: str = "") -> dict[str, Any]:
        return self._post(
            "/api/background/tasks/n8n-sync", {"sync_type": sync_type, "data": data, "priority": priority}
        )

    def get(self, task_id: str) -> dict[str, Any]:
        return _raise_for(self._http.get(f"/api/background/tasks/{task_id}"))

    def logs(self, task_id: str) -> list[dict[str, Any]]:
        return _raise_for(self._http.get(f"/api/background/tasks/{task_id}/logs")).get("logs", [])

    def cancel(self, task_id: str, reason: str = "") -> dict[str, Any]:
        return self._post(f"/api/background/tasks/{task_id}/cancel", {"reason": reason})

    def wait(self, task_id: str, *, timeout: float = 300.0, poll_seconds: float = 0.5) -> dict[str, Any]:
        """The task once it ended; ``TimeoutError`` when it has not after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.get(task_id)
            if task["status"] in FINISHED:
                return task
            if time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id} is still {task['status']} after {timeout:g} s")
            time.sleep(poll_seconds)
