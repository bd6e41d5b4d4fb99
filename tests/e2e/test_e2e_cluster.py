"""``make chaos --scenario cluster``, smaller: 200 jobs on a three-node JetStream cluster
(R3 streams, buckets and object store) while one node is SIGKILLed and brought back, the
meta leader is SIGKILLed and brought back, and the jobs stream's leader is cut off for
longer than the election timeout. Nothing is lost or done twice, every client error is
retryable, each returning node catches up and the outbox drains."""

from __future__ import annotations

import pytest
from mediatasks import chaos

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(600)
def test_jobs_survive_a_node_kill_a_meta_leader_kill_and_a_partition_of_the_nats_cluster() -> None:
    args = chaos.parser().parse_args(
        ["--scenario", "cluster", "--jobs", "200", "--rate", "8", "--fault-interval", "2", "--workers", "2"]
    )
    result = chaos.run(args)

    figures = {key: result[key] for key in ("lost", "completed_twice", "failed", "client_errors")}
    # The reasons first: pytest cuts a long message short.
    assert figures == {"lost": 0, "completed_twice": 0, "failed": 0, "client_errors": 0}, (
        result.get("failure_reasons"),
        result,
    )
    assert result["accepted"] == result["jobs"], result
    assert result["outbox"] == {"pending": 0, "parked": 0}, result
    assert result["nats"] == {"nodes": 3, "replicas": 3}, result
    assert result["faults"] == {
        "nats_node_sigkill": 1,
        "nats_meta_leader_sigkill": 1,
        "nats_meta_leader_elected": 1,
        "nats_node_partitioned": 1,
        "nats_node_caught_up": 3,
    }, result
    # The faults landed while jobs were still being submitted, not after the run.
    last_fault = max(event["at_s"] for event in result["fault_log"] if event["fault"] != "nats_node_caught_up")
    assert last_fault < result["submit_seconds"], result
