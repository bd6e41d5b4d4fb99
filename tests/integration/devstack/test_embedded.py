"""The embedded NATS, PostgreSQL and Envoy launchers against the real servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import nats
import pytest
import sqlalchemy as sa
from mediatasks.devstack.embedded_envoy import EmbeddedEnvoy, EnvoyConfigError
from mediatasks.devstack.embedded_nats import EmbeddedNats
from mediatasks.devstack.embedded_postgres import EmbeddedPostgres, create_database, drop_database
from mediatasks.devstack.servers import RESERVED_PORTS, EmbeddedServerError, free_port, port_accepts
from nats.js.api import StorageType

if TYPE_CHECKING:  # the fixture's other shape, when tests target an existing server
    from tests.conftest import ExternalPostgres

pytestmark = pytest.mark.timeout(120)


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


def _wait_gone(pid: int, port: int, timeout: float = 10.0) -> bool:
    """True once ``pid`` is dead (or a zombie) and nothing answers on ``port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            state = "gone"
        if state in ("gone", "Z", "X") and not port_accepts("127.0.0.1", port):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def test_free_port_is_bindable_and_never_reserved() -> None:
    ports = {free_port() for _ in range(50)}
    assert not ports & RESERVED_PORTS
    port = ports.pop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


# --- NATS ---------------------------------------------------------------------------


async def _connect(url: str) -> nats.NATS:
    return await nats.connect(url, connect_timeout=5, allow_reconnect=False)


async def test_nats_jetstream_publish_and_consume(nats_url: str) -> None:
    assert not nats_url.endswith(":4222")
    nc = await _connect(nats_url)
    try:
        js = nc.jetstream(timeout=5)
        stream = f"T_{uuid.uuid4().hex[:8]}"
        subject = f"test.{stream}.jobs"
        await js.add_stream(name=stream, subjects=[subject], storage=StorageType.FILE)
        for n in range(3):
            ack = await js.publish(subject, f"job-{n}".encode(), timeout=5)
            assert ack.stream == stream and ack.seq == n + 1
        sub = await js.pull_subscribe(subject, durable="worker")
        msgs = await sub.fetch(3, timeout=5)
        assert [m.data for m in msgs] == [b"job-0", b"job-1", b"job-2"]
        for msg in msgs:
            await msg.ack()
        await sub.unsubscribe()
        await js.delete_stream(stream)
    finally:
        await nc.close()


async def test_nats_restart_keeps_stream_data(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path)
    url = server.start()
    try:
        nc = await _connect(url)
        js = nc.jetstream(timeout=5)
        await js.add_stream(name="DURABLE", subjects=["durable.>"], storage=StorageType.FILE)
        for n in range(5):
            await js.publish(f"durable.{n}", f"payload-{n}".encode(), timeout=5)
        await nc.close()
        pid_before = server.pid

        assert server.restart() == url  # same port, same data dir
        assert server.pid != pid_before

        nc = await _connect(url)
        try:
            js = nc.jetstream(timeout=5)
            info = await js.stream_info("DURABLE")
            assert info.state.messages == 5
            sub = await js.pull_subscribe("durable.>", durable="after-restart")
            msgs = await sub.fetch(5, timeout=5)
            assert sorted(m.data for m in msgs) == [f"payload-{n}".encode() for n in range(5)]
            await sub.unsubscribe()
        finally:
            await nc.close()
    finally:
        server.stop()
    assert not server.running
    assert not port_accepts("127.0.0.1", server.port)


def test_nats_port_taken_fails_fast_with_log(tmp_path: Path) -> None:
    with _listening_socket() as taken:
        port = taken.getsockname()[1]
        server = EmbeddedNats(tmp_path, port=port, monitor_port=free_port())
        began = time.monotonic()
        with pytest.raises(EmbeddedServerError, match="(?i)address already in use"):
            server.start()
        assert time.monotonic() - began < 10
    assert not server.running


# --- PostgreSQL ---------------------------------------------------------------------


def test_postgres_sql_through_sqlalchemy(
    database_url: str, postgres_server: EmbeddedPostgres | ExternalPostgres
) -> None:
    url = sa.engine.make_url(database_url)
    assert url.drivername == "postgresql+psycopg"
    assert url.port != 5432
    engine = sa.create_engine(database_url, pool_pre_ping=True)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS t_sql (id int PRIMARY KEY, v text)"))
            conn.execute(sa.text("INSERT INTO t_sql VALUES (1, 'one'), (2, 'two')"))
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT v FROM t_sql ORDER BY id")).scalars().all()
            assert rows == ["one", "two"]
            if isinstance(postgres_server, EmbeddedPostgres):
                # The embedded server is the wheel's PostgreSQL 18, not the machine's own.
                version = conn.execute(sa.text("SHOW server_version_num")).scalar_one()
                assert int(version) >= 180000
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE t_sql"))
    finally:
        engine.dispose()


def test_postgres_second_start_keeps_data(postgres_state_dir: Path) -> None:
    first = EmbeddedPostgres(postgres_state_dir)
    url = first.start()
    try:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE kept (note text)"))
            conn.execute(sa.text("INSERT INTO kept VALUES ('survives a restart')"))
        engine.dispose()
    finally:
        first.stop()
    assert not first.running

    second = EmbeddedPostgres(postgres_state_dir)  # as `mediatasks up` run a second time
    url = second.start()
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            notes = conn.execute(sa.text("SELECT note FROM kept")).scalars().all()
        engine.dispose()
        assert notes == ["survives a restart"]
        assert second.startup_seconds is not None and second.startup_seconds < 30
    finally:
        second.stop()
    assert not port_accepts("127.0.0.1", second.port)


def test_postgres_guards_a_running_cluster_and_recovers_after_a_crash(
    postgres_state_dir: Path,
) -> None:
    first = EmbeddedPostgres(postgres_state_dir)
    engine = sa.create_engine(first.start())
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE committed (n int)"))
            conn.execute(sa.text("INSERT INTO committed VALUES (42)"))
        engine.dispose()
        with pytest.raises(EmbeddedServerError, match="already runs on"):
            EmbeddedPostgres(postgres_state_dir).start()

        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)  # a crash: no shutdown checkpoint, pid file left
        assert _wait_gone(first.pid, first.port)
        second = EmbeddedPostgres(postgres_state_dir)
        engine = sa.create_engine(second.start())
        try:
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT n FROM committed")).scalar_one() == 42
        finally:
            engine.dispose()
            second.stop()
    finally:
        first.stop()


def test_create_and_drop_database(postgres_server: EmbeddedPostgres | ExternalPostgres) -> None:
    name = f"mt_created_{uuid.uuid4().hex[:8]}"
    url = create_database(postgres_server.server_url, name)
    assert sa.engine.make_url(url).database == name
    engine = sa.create_engine(url)
    try:
        conn = engine.connect()
        assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == name
        drop_database(postgres_server.server_url, name)  # an open session must not block it
        with pytest.raises(sa.exc.OperationalError):
            conn.execute(sa.text("SELECT 1"))
        conn.close()
    finally:
        engine.dispose()
    admin = sa.create_engine(postgres_server.server_url)
    try:
        with admin.connect() as conn:
            query = sa.text("SELECT count(*) FROM pg_database WHERE datname = :n")
            assert conn.execute(query, {"n": name}).scalar_one() == 0
    finally:
        admin.dispose()
    with pytest.raises(ValueError, match="invalid database name"):
        create_database(postgres_server.server_url, "bad; DROP DATABASE x")


# --- Envoy --------------------------------------------------------------------------


HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def _envoy_config(listener_port: int, body: str) -> str:
    return textwrap.dedent(
        f"""\
        static_resources:
          listeners:
          - name: http
            address: {{socket_address: {{address: 127.0.0.1, port_value: {listener_port}}}}}
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": {HCM_TYPE}
                  stat_prefix: ingress
                  route_config:
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: {{prefix: "/"}}
                        direct_response: {{status: 200, body: {{inline_string: "{body}"}}}}
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
        """
    )


def test_envoy_validate_accepts_a_valid_config(tmp_path: Path) -> None:
    config = tmp_path / "envoy.yaml"
    config.write_text(_envoy_config(free_port(), "ok"))
    EmbeddedEnvoy.validate(config)


def test_envoy_validate_rejects_an_invalid_config_with_reason(tmp_path: Path) -> None:
    config = tmp_path / "envoy.yaml"
    config.write_text(_envoy_config(free_port(), "ok").replace("stat_prefix:", "stat_prefixx:"))
    with pytest.raises(EnvoyConfigError) as raised:
        EmbeddedEnvoy.validate(config)
    assert "stat_prefixx" in str(raised.value)
    assert str(config) in str(raised.value)


def test_envoy_serves_http_and_stops(tmp_path: Path) -> None:
    listener = free_port()
    config = tmp_path / "envoy.yaml"
    config.write_text(_envoy_config(listener, "hello from envoy"))
    with EmbeddedEnvoy(config, state_dir=tmp_path / "state") as envoy:
        assert envoy.startup_seconds is not None
        with httpx.Client(trust_env=False, timeout=5) as client:
            response = client.get(f"http://127.0.0.1:{listener}/anything")
            assert response.status_code == 200
            assert response.text == "hello from envoy"
            assert client.get(f"{envoy.admin_url}/ready").text.strip() == "LIVE"
        pid = envoy.pid
    assert not envoy.running
    assert pid is not None and _wait_gone(pid, listener, timeout=5)
    assert (tmp_path / "state" / "envoy.log").stat().st_size > 0


def test_two_envoys_run_side_by_side(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    envoys = []
    try:
        for n, port in enumerate(ports):
            config = tmp_path / f"envoy{n}.yaml"
            config.write_text(_envoy_config(port, f"envoy {n}"))
            envoy = EmbeddedEnvoy(config, state_dir=tmp_path / f"state{n}")
            envoy.start()
            envoys.append(envoy)
        with httpx.Client(trust_env=False, timeout=5) as client:
            for n, port in enumerate(ports):
                assert client.get(f"http://127.0.0.1:{port}/").text == f"envoy {n}"
    finally:
        for envoy in envoys:
            envoy.stop()


def test_envoy_start_failure_reports_its_log(tmp_path: Path) -> None:
    with _listening_socket() as taken:
        config = tmp_path / "envoy.yaml"
        config.write_text(_envoy_config(taken.getsockname()[1], "never"))
        envoy = EmbeddedEnvoy(config, state_dir=tmp_path / "state")
        with pytest.raises(EmbeddedServerError, match="(?i)address already in use"):
            envoy.start()
    assert not envoy.running


# --- no orphans ---------------------------------------------------------------------

_PARENT_SCRIPT = """
import sys, threading, time
from mediatasks.devstack.embedded_nats import EmbeddedNats
server = EmbeddedNats(sys.argv[1])
if sys.argv[2] == "hang":
    server.start()
else:
    # From a worker thread no parent-death signal is set: only the atexit hook stops it.
    starter = threading.Thread(target=server.start)
    starter.start()
    starter.join()
print(server.pid, server.port, flush=True)
if sys.argv[2] == "hang":
    time.sleep(60)
sys.stdin.readline()  # exit (without stopping the server) when the test says so
"""


@pytest.mark.parametrize("how", ["exit", "sigkill"])
def test_servers_do_not_outlive_their_parent(tmp_path: Path, how: str) -> None:
    """A normal exit stops children (atexit); so does a SIGKILLed parent (death signal)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT_SCRIPT, str(tmp_path), "hang" if how == "sigkill" else ""],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    pid = port = 0
    try:
        assert parent.stdout is not None and parent.stdin is not None
        line = parent.stdout.readline()
        pid, port = (int(part) for part in line.split())
        assert port_accepts("127.0.0.1", port)
        if how == "sigkill":
            parent.send_signal(signal.SIGKILL)
        else:
            parent.stdin.write("exit\n")
            parent.stdin.flush()
        assert parent.wait(timeout=20) == (-signal.SIGKILL if how == "sigkill" else 0)
        assert _wait_gone(pid, port), f"nats-server {pid} outlived its parent ({how})"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=5)
        if pid and not _wait_gone(pid, port, timeout=0):
            os.kill(pid, signal.SIGKILL)  # the test failed: do not leave the server behind


async def test_nats_with_authentication_refuses_a_service_without_credentials(tmp_path: Path) -> None:
    import nats
    import nats.errors
    from mediatasks.core.nats_conn import connect
    from mediatasks.core.settings import Settings

    server = EmbeddedNats(tmp_path / "authed", credentials=("mediatasks", "s3cret-s3cret"))
    server.start()
    try:
        assert "mediatasks:s3cret-s3cret@" in server.url
        plain = Settings(nats_url=server.plain_url)
        with pytest.raises((nats.errors.Error, OSError)):
            await nats.connect(server.plain_url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
        authed = await connect(
            plain.model_copy(update={"nats_user": "mediatasks", "nats_password": "s3cret-s3cret"}), name="t"
        )
        try:
            await authed.jetstream().account_info()  # JetStream is there for the user
        finally:
            await authed.close()
        via_url = await nats.connect(server.url)
        await via_url.close()
    finally:
        server.stop()
