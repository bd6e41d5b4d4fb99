"""The demo job ``mediatasks up --demo`` runs: subtitles from text, through the REST gateway."""

from __future__ import annotations

import time

import httpx

DEMO_TEXT = (
    "Welcome to mediatasks. Long media jobs run in the background while you poll, "
    "stream progress, or wait for a signed webhook. This subtitle file was timed automatically."
)


def run_demo(http_url: str, api_key: str, *, timeout: float = 60.0) -> dict:
    headers = {"X-API-Key": api_key} if api_key else {}
    with httpx.Client(base_url=http_url, headers=headers, timeout=10.0) as client:
        response = client.post("/api/v1/media/subtitles/generate", json={"text": DEMO_TEXT, "format": "srt"})
        print(f"POST /api/v1/media/subtitles/generate -> {response.status_code}")
        response.raise_for_status()
        task = response.json()
        print(f"  task {task['task_id']} {task['status']}")
        deadline = time.monotonic() + timeout
        while task["status"] in ("QUEUED", "PROCESSING"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"demo task still {task['status']} after {timeout}s")
            time.sleep(0.2)
            task = client.get(f"/api/v1/media/tasks/{task['task_id']}").json()
        print(f"GET /api/v1/media/tasks/{task['task_id']} -> {task['status']}")
        if task["status"] != "COMPLETED":
            raise RuntimeError(f"demo task ended {task['status']}: {task.get('error')}")
        artifact = task["output"]["artifacts"][0]
        download = client.get(artifact["url"])
        download.raise_for_status()
        print(f"GET {artifact['url']} -> {download.status_code} ({download.headers.get('content-type')})")
        print(download.text)
        return task
