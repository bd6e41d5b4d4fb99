"""``email_notification``: a templated email sent over SMTP (STARTTLS, implicit TLS or
plain, as the settings say)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import string
from email.message import EmailMessage
from email.utils import formataddr

from mediatasks.background.builtin._settings import settings_of
from mediatasks.background.settings import BackgroundSettings
from mediatasks.worker import BackgroundTask, RetryPolicy, TaskDefinition, TaskFailed, TransientError

# Named templates: ($subject, $body) with ${variable} placeholders.
TEMPLATES: dict[str, tuple[str, str]] = {
    "task_completed": (
        "Your task ${task_name} has completed",
        "Hello ${name},\n\nyour task ${task_name} completed at ${completed_at}.\n\n-- mediatasks\n",
    ),
    "task_failed": (
        "Your task ${task_name} failed",
        "Hello ${name},\n\nyour task ${task_name} failed: ${error}.\n\n-- mediatasks\n",
    ),
    "welcome": (
        "Welcome, ${name}",
        "Hello ${name},\n\nwelcome to ${product}.\n\n-- mediatasks\n",
    ),
}

_ADDRESS = {"type": "string", "pattern": "^[^@\\s<>]+@[^@\\s<>]+$", "maxLength": 320}


def render(payload: dict) -> tuple[str, str, str | None]:
    """(subject, text body, html body or None) of the payload's template and variables."""
    variables = {key: str(value) for key, value in (payload.get("variables") or {}).items()}
    if payload.get("template"):
        name = payload["template"]
        if name not in TEMPLATES:
            raise TaskFailed(f"unknown template {name!r}; one of {', '.join(TEMPLATES)}", reason="INVALID_INPUT")
        subject, body = TEMPLATES[name]
        subject = payload.get("subject") or subject
    else:
        subject, body = payload["subject"], payload["body"]
    html = payload.get("html")
    try:
        return (
            string.Template(subject).substitute(variables),
            string.Template(body).substitute(variables),
            string.Template(html).substitute(variables) if html else None,
        )
    except KeyError as missing:
        raise TaskFailed(f"the template needs variable {missing}", reason="INVALID_INPUT") from None
    except ValueError as exc:
        raise TaskFailed(f"the template is malformed: {exc}", reason="INVALID_INPUT") from None


def _tls_context(settings: BackgroundSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.smtp_ca_file or None)
    if not settings.smtp_verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def send(settings: BackgroundSettings, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
    """One SMTP conversation (blocking); returns the recipients the server refused."""
    timeout = settings.smtp_timeout_seconds
    smtp: smtplib.SMTP
    if settings.smtp_tls == "ssl":
        smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout, context=_tls_context(settings))
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    with smtp:
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=_tls_context(settings))
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        return smtp.send_message(message)


async def send_email(task: BackgroundTask) -> dict:
    settings = settings_of(task)
    if not settings.smtp_host or not settings.smtp_from:
        raise TaskFailed(
            "email needs an SMTP server: set MEDIATASKS_SMTP_HOST and MEDIATASKS_SMTP_FROM on the worker",
            reason="SMTP_NOT_CONFIGURED",
        )
    payload = task.payload
    recipients = payload["to"] if isinstance(payload["to"], list) else [payload["to"]]
    subject, text, html = render(payload)
    message = EmailMessage()
    message["From"] = formataddr((payload.get("from_name", ""), settings.smtp_from))
    message["To"] = ", ".join(recipients)
    if payload.get("cc"):
        message["Cc"] = ", ".join(payload["cc"])
    if payload.get("reply_to"):
        message["Reply-To"] = payload["reply_to"]
    message["Subject"] = subject
    # The same on every retry: a receiving system can drop a repeat.
    message["Message-ID"] = f"<{task.id}@mediatasks>"
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    await task.update_progress(20, "connecting")
    try:
        refused = await asyncio.to_thread(send, settings, message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise TaskFailed(f"every recipient was refused: {exc.recipients}", reason="RECIPIENTS_REFUSED") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise TaskFailed(f"the SMTP server refused the login: {exc.smtp_code}", reason="SMTP_AUTH_FAILED") from None
    except smtplib.SMTPResponseException as exc:
        # 4xx is the server's "try again later"; 5xx is a refusal.
        if 400 <= exc.smtp_code < 500:
            raise TransientError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", reason="SMTP_TEMPORARY") from None
        raise TaskFailed(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", reason="SMTP_REFUSED") from None
    except (smtplib.SMTPException, OSError) as exc:  # disconnects, TLS errors, timeouts, refused connections
        raise TransientError(
            f"SMTP {settings.smtp_host}:{settings.smtp_port}: {exc}", reason="SMTP_UNAVAILABLE"
        ) from None
    task.log(f"sent to {len(recipients) - len(refused)} of {len(recipients)} recipient(s)")
    await task.update_progress(100, "sent")
    return {
        "message_id": message["Message-ID"],
        "accepted": [r for r in recipients if r not in refused],
        "refused": sorted(refused),
    }


EMAIL_NOTIFICATION = TaskDefinition(
    "email_notification",
    send_email,
    payload_schema={
        "type": "object",
        "required": ["to"],
        "additionalProperties": False,
        "anyOf": [{"required": ["template"]}, {"required": ["subject", "body"]}],
        "properties": {
            "to": {"anyOf": [_ADDRESS, {"type": "array", "items": _ADDRESS, "minItems": 1, "maxItems": 100}]},
            "cc": {"type": "array", "items": _ADDRESS, "maxItems": 100},
            "reply_to": _ADDRESS,
            "from_name": {"type": "string", "maxLength": 200},
            "template": {"enum": sorted(TEMPLATES)},
            "subject": {"type": "string", "maxLength": 998},
            "body": {"type": "string"},
            "html": {"type": "string"},
            "variables": {"type": "object"},
        },
    },
    priority="normal",
    retry=RetryPolicy(max_retries=3, base_delay=60.0),
    description="A templated email over SMTP (STARTTLS, TLS or plain).",
    builtin=True,
)
