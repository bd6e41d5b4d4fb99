"""The whole platform on one machine: what ``mediatasks up`` and the e2e tests run.

NATS (one server, or with ``nats_nodes=3`` a three-node JetStream cluster with replicated
streams) and PostgreSQL come from wheels (embedded) unless ``MEDIATASKS_NATS_URL`` /
``MEDIATASKS_DATABASE_URL`` point at existing servers; every service runs as its own
process (``mediatasks serve <name>``); Envoy (from its wheel) fronts them with the REST
gateway. Everything listens on free loopback ports inside one state directory.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mediatasks.core import topology
from mediatasks.core.auth import ApiKeyStore
from mediatasks.core.nats_conn import connect
from mediatasks.core.settings import MEDIA_SERVICES, Settings, child_environment
from mediatasks.devstack import gateway_config
from mediatasks.devstack.embedded_envoy import EmbeddedEnvoy
from mediatasks.devstack.embedded_nats import EmbeddedNats
from mediatasks.devstack.embedded_postgres import EmbeddedPostgres
from mediatasks.devstack.nats_cluster import NatsCluster
from mediatasks.devstack.servers import ChildProcess, free_port, port_accepts

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"


class StackError(RuntimeError):
    pass


@dataclass
class ServiceProcess:
    service: str
    index: int
    port: int
    metrics_port: int
    child: ChildProcess

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"


@dataclass
class Stack:
    """Start with :meth:`start`, stop with :meth:`stop` (or use as a context manager)."""

    state_dir: Path
    settings: Settings = field(default_factory=Settings)
    http_port: int | None = None
    replicas: dict[str, int] = field(default_factory=dict)
    # The media services to run (all by default; tests may run a subset).
    media_services: tuple[str, ...] = MEDIA_SERVICES
    env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 60.0
    rate_limit_per_second: int | None = None
    # Embedded NATS nodes: 1 is one server; 3 a JetStream cluster whose streams, buckets
    # and object store have three replicas (ignored when settings name a NATS URL).
    nats_nodes: int = 1

    nats: EmbeddedNats | None = None
    nats_cluster: NatsCluster | None = None
    postgres: EmbeddedPostgres | None = None
    envoy: EmbeddedEnvoy | None = None
    processes: list[ServiceProcess] = field(default_factory=list)
    nats_url: str = ""
    nats_replicas: int = 1
    database_url: str = ""
    internal_token: str = ""
    api_key: str = ""
    _ports: dict[tuple[str, int], int] = field(default_factory=dict)

    # --- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        """Start everything; a port taken by someone else between choosing and binding it
        makes a service exit, and then the whole start is tried again on new ports."""
        for attempt in (1, 2, 3):
            try:
                self._start_once()
                return
            except StackError as error:
                if "Address already in use" not in str(error) or attempt == 3:
                    raise
                log.warning("a port was taken while starting (%s); starting again", error)

    def _start_once(self) -> None:
        self.state_dir = Path(self.state_dir).absolute()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_infrastructure()
            (self.state_dir / "nats-url").write_text(self.nats_url + "\n")
            self.internal_token = secrets.token_hex(24)
            # Every service's port is chosen up front, so each process starts knowing
            # where the others will listen (the registry calls media services for batches).
            self._ports = {
                (service, index): free_port()
                for service in ("registry", *self.media_services)
                for index in range(self.replicas.get(service, 1))
            }
            for index in range(self.replicas.get("registry", 1)):
                self._spawn("registry", index)
            self._wait_healthy([p for p in self.processes if p.service == "registry"])
            self._write_worker_env()
            for service in self.media_services:
                for index in range(self.replicas.get(service, 1)):
                    self._spawn(service, index)
            self._wait_healthy([p for p in self.processes if p.service != "registry"])
            self._start_gateway()
            if not self.settings.auth_disabled and not self.env.get("MEDIATASKS_AUTH_DISABLED"):
                self.api_key = self.create_api_key("demo")
                (self.state_dir / "api-key").write_text(self.api_key + "\n")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.envoy is not None:
            self.envoy.stop()
        # Media services first (they hand running jobs back), then the registry.
        for process in sorted(self.processes, key=lambda p: p.service == "registry"):
            process.child.stop(timeout=self.settings.shutdown_grace_seconds + 5)
        self.processes.clear()
        if self.postgres is not None:
            self.postgres.stop()
        if self.nats is not None:
            self.nats.stop()
        if self.nats_cluster is not None:
            self.nats_cluster.stop()

    # --- parts ------------------------------------------------------------------------

    def _start_infrastructure(self) -> None:
        # Authentication on, as in production: a process without the stack's
        # credentials cannot read its jobs, artifacts or API keys.
        credentials = ("mediatasks", secrets.token_hex(16))
        if self.settings.nats_url:
            self.nats_url = self.settings.nats_url
            self.nats_replicas = self.settings.nats_replicas
        elif self.nats_nodes > 1:
            self.nats_cluster = NatsCluster(
                self.state_dir / "nats-cluster", size=self.nats_nodes, credentials=credentials
            )
            self.nats_url = self.nats_cluster.start()
            self.nats_replicas = min(3, self.nats_nodes)
        else:
            self.nats = EmbeddedNats(self.state_dir / "nats", credentials=credentials)
            self.nats_url = self.nats.start()
        if self.settings.database_url:
            self.database_url = self.settings.database_url
        else:
            self.postgres = EmbeddedPostgres(self.state_dir / "postgres")
            self.database_url = self.postgres.start()

    def service_env(self) -> dict[str, str]:
        """Settings every service process of this stack shares."""
        embedded = self.nats or self.nats_cluster
        env = {
            "MEDIATASKS_NATS_URL": embedded.plain_url if embedded and embedded.credentials else self.nats_url,
            "MEDIATASKS_NATS_REPLICAS": str(self.nats_replicas),
            "MEDIATASKS_DATABASE_URL": self.database_url,
            "MEDIATASKS_INTERNAL_TOKEN": self.internal_token,
            "MEDIATASKS_GRPC_HOST": LOOPBACK,
            "MEDIATASKS_LOG_JSON": "true",
        }
        if embedded is not None and embedded.credentials:
            env["MEDIATASKS_NATS_USER"], env["MEDIATASKS_NATS_PASSWORD"] = embedded.credentials
        for service in ("registry", *self.media_services):
            env[f"MEDIATASKS_{service.upper()}_ADDR"] = self.replica_addresses(service)
        env.update(self.env)
        return env

    def _write_worker_env(self) -> None:
        """``<state dir>/worker.env``: what a ``mediatasks worker`` of this stack needs (NATS,
        the registry's address, the internal token), readable by its owner only, so a
        user's worker started beside ``mediatasks up`` joins it without copying secrets."""
        wanted = (
            "MEDIATASKS_NATS_URL",
            "MEDIATASKS_NATS_USER",
            "MEDIATASKS_NATS_PASSWORD",
            "MEDIATASKS_NATS_REPLICAS",
            "MEDIATASKS_INTERNAL_TOKEN",
            "MEDIATASKS_REGISTRY_ADDR",
        )
        env = self.service_env()
        path = self.state_dir / "worker.env"
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text("".join(f"{key}={env[key]}\n" for key in wanted if env.get(key)))

    def _spawn(self, service: str, index: int) -> ServiceProcess:
        port, metrics_port = self._ports[(service, index)], free_port()
        name = f"{service}-{index}"
        env = self.service_env()
        env.update(MEDIATASKS_GRPC_PORT=str(port), MEDIATASKS_METRICS_PORT=str(metrics_port))
        child = ChildProcess(
            name,
            [sys.executable, "-m", "mediatasks.cli.main", "serve", service],
            self.state_dir / "logs" / f"{name}.log",
            env=child_environment(env),
        )
        child.start()
        process = ServiceProcess(service, index, port, metrics_port, child)
        self.processes.append(process)
        return process

    def restart(self, process: ServiceProcess) -> None:
        process.child.start()
        self._wait_healthy([process])

    def _wait_healthy(self, processes: list[ServiceProcess]) -> None:
        deadline = time.monotonic() + self.start_timeout
        for process in processes:
            while not self._serving(process):
                if not process.child.is_running():
                    raise StackError(f"{process.child.name} exited:\n{process.child.log_tail()}")
                if time.monotonic() > deadline:
                    raise StackError(f"{process.child.name} not healthy:\n{process.child.log_tail()}")
                time.sleep(0.05)

    @staticmethod
    def _serving(process: ServiceProcess) -> bool:
        """One gRPC health check on a channel of its own: a channel that met a closed port
        backs off for seconds, long after the service has started listening."""
        with grpc.insecure_channel(process.address) as channel:
            try:
                answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1.0)
            except grpc.RpcError:
                return False
        return answer.status == health_pb2.HealthCheckResponse.SERVING

    def _start_gateway(self) -> None:
        if self.http_port is None:
            self.http_port = 8080 if not port_accepts(LOOPBACK, 8080) else free_port()
        upstreams = {service: self.replica_addresses(service) for service in ("registry", *self.media_services)}
        admin_port = free_port()
        config = self.state_dir / "envoy.yaml"
        gateway_config.write_envoy_config(
            config,
            listen_port=self.http_port,
            admin_port=admin_port,
            upstreams=upstreams,
            descriptor_path=gateway_config.descriptor_path(),
            access_log_path=self.state_dir / "logs" / "envoy-access.log",
            rate_limit_per_second=self.rate_limit_per_second or self.settings.gateway_rate_limit_per_second,
        )
        self.envoy = EmbeddedEnvoy(config, admin_port=admin_port, state_dir=self.state_dir / "envoy")
        self.envoy.start()

    def create_api_key(self, owner: str) -> str:
        """A new API key of ``owner`` (what ``mediatasks apikey create`` does)."""
        return asyncio.run(self._create_api_key(owner))

    async def _create_api_key(self, owner: str) -> str:
        nc = await connect(Settings(nats_url=self.nats_url, nats_replicas=self.nats_replicas), name="mediatasks-up")
        try:
            kv = await topology.ensure_kv(nc.jetstream(), topology.APIKEYS_BUCKET)
            return await ApiKeyStore(kv).create(owner, name="mediatasks up")
        finally:
            await nc.close()

    # --- addresses ---------------------------------------------------------------------

    @property
    def http_url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    def replica_addresses(self, service: str) -> str:
        """Every replica of ``service`` as ``host:port,host:port`` (clients balance over them)."""
        return ",".join(f"{LOOPBACK}:{port}" for (name, _index), port in sorted(self._ports.items()) if name == service)

    def address(self, service: str) -> str:
        return next(p.address for p in self.processes if p.service == service)
