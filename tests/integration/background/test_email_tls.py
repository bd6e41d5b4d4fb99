"""email_notification's SMTP conversation against a real local SMTP server (aiosmtpd)
speaking STARTTLS with a certificate of its own, and implicit TLS."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mediatasks.background.builtin.email import send
from mediatasks.background.settings import BackgroundSettings
from mediatasks.devstack.servers import free_port


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _Box:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd naming
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    return _certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture()
def starttls_server(tls_files) -> Iterator[tuple[_Box, int]]:
    box = _Box()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True)
    controller.start()
    yield box, port
    controller.stop()


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "noreply@example.test", "ana@example.test", "hi"
    message.set_content("hello")
    return message


def test_starttls_with_the_servers_own_ca(starttls_server, tls_files) -> None:
    box, port = starttls_server
    settings = BackgroundSettings(
        smtp_host="localhost", smtp_port=port, smtp_tls="starttls", smtp_ca_file=str(tls_files[0])
    )
    assert send(settings, _message()) == {}
    assert box.messages[-1][1] == ["ana@example.test"]


def test_starttls_refuses_an_unknown_certificate(starttls_server) -> None:
    _box, port = starttls_server
    settings = BackgroundSettings(smtp_host="localhost", smtp_port=port, smtp_tls="starttls")
    with pytest.raises(ssl.SSLCertVerificationError):
        send(settings, _message())
    # ... unless verification is switched off explicitly.
    unverified = settings.model_copy(update={"smtp_verify_tls": False})
    assert send(unverified, _message()) == {}


def test_a_server_that_requires_starttls_refuses_plain_mail(starttls_server) -> None:
    import smtplib

    _box, port = starttls_server
    settings = BackgroundSettings(smtp_host="localhost", smtp_port=port, smtp_tls="none")
    with pytest.raises(smtplib.SMTPResponseException) as error:
        send(settings, _message())
    assert error.value.smtp_code == 530
