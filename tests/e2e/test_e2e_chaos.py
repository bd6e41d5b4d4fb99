"""``make chaos``, smaller: jobs keep their guarantees while workers are SIGKILLed, a
registry replica dies, NATS and PostgreSQL restart, and while a stale attempt meets the
newer attempt of its job. Each scenario runs on its own NATS and PostgreSQL."""

from __future__ import annotations

import pytest
from mediatasks import chaos

pytestmark = pytest.mark.e2e


def _clean(result: dict) -> None:
    figures = {k: result[k] for k in ("lost", "completed_twice", "failed", "client_errors")}
    # The reasons first: pytest cuts a long message short.
    assert figures == {"lost": 0, "completed_twice": 0, "failed": 0, "client_errors": 0}, (
        result.get("failure_reasons"),
        result,
    )
    assert result["accepted"] == result["jobs"], result


@pytest.mark.timeout(600)
def test_jobs_survive_worker_kills_a_registry_kill_and_nats_and_postgres_restarts() -> None:
    args = chaos.parser().parse_args(
        ["--jobs", "200", "--rate", "25", "--worker-kills", "4", "--fault-interval", "0.5", "--workers", "2"]
    )
    result = chaos.run(args)
    _clean(result)
    assert result["faults"] == {"worker_sigkill": 4, "registry_sigkill": 1, "nats_restart": 1, "postgres_restart": 1}


@pytest.mark.timeout(600)
def test_a_stale_attempt_cannot_strand_the_job_of_a_newer_one() -> None:
    args = chaos.parser().parse_args(
        ["--scenario", "stale", "--jobs", "6", "--rate", "20", "--workers", "2", "--worker-concurrency", "3"]
        + ["--slide-seconds", "400"]
    )
    result = chaos.run(args)
    _clean(result)
    assert result["faults"] == {"worker_sigstop": 1, "worker_sigcont": 1, "worker_sigkill": 1}, result
