"""A batch of 50 from an owner whose limit is 5, through the real Envoy: all 50 are
accepted (those past the limit wait their turn, in order), all complete, and at no moment
did that owner have more than 5 running."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from helpers.stacks import isolated_stack
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.e2e
LIMIT = 5


@pytest.fixture(scope="module")
def limited(postgres_server):
    with isolated_stack(
        postgres_server,
        "tenancy",
        media_services=("subtitle",),
        # One job at a time, of a text long enough to take a while: the batch outruns the
        # worker, so the owner's limit is reached and the rest must wait their turn.
        env={
            "MEDIATASKS_OWNER_CONCURRENCY_LIMIT": str(LIMIT),
            "MEDIATASKS_CAPACITY_PER_TYPE": "1",
            "MEDIATASKS_WORKER_CONCURRENCY": "1",
            "MEDIATASKS_LOG_JSON": "false",
        },
    ) as stack:
        yield stack


def test_a_batch_past_the_owner_limit_queues_instead_of_refusing(limited) -> None:
    long_text = " ".join(f"Sentence number {k} of a long script." for k in range(400))
    items = [{"task_type": "subtitle_generation", "input_data": {"text": f"Job {n}. {long_text}"}} for n in range(50)]
    with httpx.Client(base_url=limited.http_url, headers={"X-API-Key": limited.api_key}, timeout=60) as client:
        answer = client.post("/api/v1/media/batch", json={"tasks": items})
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["index"] for r in results] == list(range(50))
        assert all("task" in r and not r.get("error") for r in results), [r.get("error") for r in results][:3]
        held = [r["task"]["task_id"] for r in results if r["task"]["stage"] == "waiting_for_turn"]
        assert held, "a batch of 50 never reached the limit of 5"
        ids = [r["task"]["task_id"] for r in results]
        deadline = time.monotonic() + 120
        while True:
            statuses = [client.get(f"/api/v1/media/tasks/{i}").json()["status"] for i in ids]
            if all(s == "COMPLETED" for s in statuses):
                break
            assert time.monotonic() < deadline, statuses
            time.sleep(0.5)
    engine = create_engine(limited.database_url)
    with engine.connect() as conn:
        spans = conn.execute(text("SELECT started_at, completed_at FROM tasks WHERE status = 'COMPLETED'")).all()
        starts = dict(conn.execute(text("SELECT CAST(id AS text), started_at FROM tasks")).all())
    engine.dispose()
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda edge: (edge[0], edge[1]))
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert len(spans) == 50 and peak <= LIMIT, peak
    # The held ones started in the order the batch gave them.
    assert [starts[i] for i in held] == sorted(starts[i] for i in held)


def test_over_the_limit_answers_429_with_retry_after(limited) -> None:
    long_text = " ".join(f"Sentence number {k} of a long script." for k in range(400))
    with httpx.Client(base_url=limited.http_url, headers={"X-API-Key": limited.api_key}, timeout=60) as client:
        # All at once: one after another, a registry quick enough let the one worker end
        # each job before the next submit came, and the limit was never reached.
        with ThreadPoolExecutor(max_workers=10) as pool:
            answers = list(
                pool.map(
                    lambda n: client.post("/api/v1/media/subtitles/generate", json={"text": f"{n}. {long_text}"}),
                    range(30),
                )
            )
        assert all(answer.status_code in (202, 429) for answer in answers), [a.text for a in answers]
        refused = [answer for answer in answers if answer.status_code == 429]
        assert refused, "the owner limit was never reached"
        answer = refused[0]
        body = answer.json()
        assert body["details"][0]["reason"] == "CONCURRENCY_LIMIT"
        assert int(answer.headers["retry-after"]) >= 1


def test_priority_aliases(limited) -> None:
    with httpx.Client(base_url=limited.http_url, headers={"X-API-Key": limited.api_key}, timeout=60) as client:
        answer = client.post(
            "/api/v1/media/subtitles/generate", json={"text": "Alias.", "priority": "critical", "wait_turn": True}
        )
        assert answer.status_code in (200, 202), answer.text
        assert answer.json()["priority"] == "urgent"
        refused = client.post("/api/v1/media/subtitles/generate", json={"text": "No.", "priority": "whenever"})
        assert refused.status_code == 400 and "critical" in refused.json()["message"]
