"""A three-node JetStream cluster of real nats-server processes, once for this package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mediatasks.devstack.nats_cluster import NatsCluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """Three nodes with routes and JetStream on free ports; every node running at the
    start of each test that uses it."""
    nodes = NatsCluster(tmp_path_factory.mktemp("nats-cluster"), size=3)
    nodes.start()
    try:
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture()
def whole_cluster(cluster: NatsCluster) -> Iterator[NatsCluster]:
    """The cluster, every node current and a meta leader elected; a node a test left
    down or frozen is brought back afterwards."""
    cluster.wait_healthy()
    cluster.meta_leader()
    yield cluster
    for index, node in enumerate(cluster.nodes):
        cluster.thaw(index)
        if not node.running:
            cluster.restart(index)
