"""MEDIATASKS_NATS_URL names one server or every node of a cluster."""

from __future__ import annotations

import pytest
from mediatasks.core.nats_conn import server_urls
from mediatasks.core.settings import ConfigurationError, Settings


def test_a_comma_separated_url_is_every_node_of_the_cluster() -> None:
    settings = Settings(nats_url=" nats://a:4222, nats://b:4222 ,,nats://c:4222")
    assert server_urls(settings) == ["nats://a:4222", "nats://b:4222", "nats://c:4222"]
    assert server_urls(Settings(nats_url="tls://one:4222")) == ["tls://one:4222"]


def test_no_url_fails_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="MEDIATASKS_NATS_URL"):
        server_urls(Settings(nats_url=" , "))


def test_the_replica_count_is_bounded() -> None:
    assert Settings().nats_replicas == 1
    with pytest.raises(ValueError, match="nats_replicas"):
        Settings(nats_replicas=0)
