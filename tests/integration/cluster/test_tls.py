"""TLS to NATS: a real nats-server that requires TLS and client certificates, with a
throwaway CA made here; the services' connection verifies the server and presents its
certificate from the MEDIATASKS_NATS_TLS_* settings."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from mediatasks.core import topology
from mediatasks.core.nats_conn import connect
from mediatasks.core.settings import ConfigurationError, Settings
from mediatasks.devstack.embedded_nats import EmbeddedNats

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[Path, Path]:
    key_path = path.with_suffix(".key")
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key_path


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None, signer: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )


class Authority:
    """A throwaway CA that signs server and client certificates into ``directory``."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.key = _key()
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            _certificate(name, self.key, None, self.key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path, _ = _write(directory / f"{name}.pem", self.key, cert)

    def issue(self, subject: str, usage: x509.ObjectIdentifier) -> tuple[Path, Path]:
        key = _key()
        builder = _certificate(subject, key, self.name, self.key).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
        return _write(self.directory / f"{subject}.pem", key, builder.sign(self.key, hashes.SHA256()))


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("tls"), "test-ca")


@pytest.fixture(scope="module")
def tls_server(authority: Authority, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    """nats-server requiring TLS and a client certificate signed by ``authority``."""
    cert, key = authority.issue("nats-server", ExtendedKeyUsageOID.SERVER_AUTH)
    tls = ["--tls", "--tlscert", cert, "--tlskey", key, "--tlscacert", authority.cert_path, "--tlsverify"]
    server = EmbeddedNats(tmp_path_factory.mktemp("nats-tls"), server_args=tls)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_services_connect_with_mutual_tls_and_use_jetstream(authority, tls_server) -> None:
    cert, key = authority.issue("mediatasks-service", ExtendedKeyUsageOID.CLIENT_AUTH)
    settings = Settings(
        nats_url=tls_server.plain_url,
        nats_tls_ca_file=str(authority.cert_path),
        nats_tls_cert_file=str(cert),
        nats_tls_key_file=str(key),
        artifact_bucket=f"tls-{uuid.uuid4().hex[:8]}",
    )
    nc = await connect(settings, name="test-tls")
    try:
        assert nc.is_connected
        js = nc.jetstream()
        await topology.ensure_streams(js, settings)
        ack = await js.publish(topology.job_subject("subtitle_generation", "low"), b"over tls")
        assert (await js.get_msg(topology.JOBS_STREAM, ack.seq)).data == b"over tls"
    finally:
        await nc.close()


async def _refused(settings: Settings, caplog: pytest.LogCaptureFixture) -> str:
    """The errors logged while ``connect`` keeps retrying a server that refuses it."""
    caplog.set_level(logging.WARNING, logger="mediatasks.core.nats_conn")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(connect(settings, name="test-tls"), timeout=3)
    return " ".join(record.getMessage() for record in caplog.records if "nats error" in record.getMessage())


async def test_a_server_certificate_from_another_ca_is_not_trusted(authority, tls_server, tmp_path, caplog) -> None:
    stranger = Authority(tmp_path, "other-ca")
    cert, key = authority.issue("mediatasks-service-2", ExtendedKeyUsageOID.CLIENT_AUTH)
    settings = Settings(
        nats_url=tls_server.plain_url,
        nats_tls_ca_file=str(stranger.cert_path),
        nats_tls_cert_file=str(cert),
        nats_tls_key_file=str(key),
    )
    assert "certificate verify failed" in await _refused(settings, caplog)


async def test_without_a_client_certificate_the_server_refuses(authority, tls_server, caplog) -> None:
    settings = Settings(nats_url=tls_server.plain_url, nats_tls_ca_file=str(authority.cert_path))
    assert await _refused(settings, caplog)


async def test_tls_settings_that_cannot_work_fail_at_start_naming_the_variable(authority, tmp_path) -> None:
    from mediatasks.core.nats_conn import tls_context

    cert, _key_path = authority.issue("half", ExtendedKeyUsageOID.CLIENT_AUTH)
    with pytest.raises(ConfigurationError, match="MEDIATASKS_NATS_TLS_KEY_FILE"):
        tls_context(Settings(nats_tls_cert_file=str(cert)))
    with pytest.raises(ConfigurationError, match="MEDIATASKS_NATS_TLS_CA_FILE"):
        tls_context(Settings(nats_tls_ca_file=str(tmp_path / "missing.pem")))
    with pytest.raises(ConfigurationError, match="MEDIATASKS_NATS_TLS_CERT_FILE"):
        tls_context(Settings(nats_tls_cert_file=str(cert), nats_tls_key_file=str(authority.cert_path)))
    assert tls_context(Settings()) is None
