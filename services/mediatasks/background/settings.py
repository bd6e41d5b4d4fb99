"""The settings of background tasks: the one settings object, plus what the built-in
types and the background API need (every knob is still ``MEDIATASKS_<NAME>``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mediatasks.core.settings import Settings


class BackgroundSettings(Settings):
    """:class:`~mediatasks.core.settings.Settings` with the background types' knobs."""

    admin_owners: str = Field(
        "",
        description="Owners (comma-separated) who see every owner's queue stats and may clean up every owner's tasks.",
    )
    scheduler_interval_seconds: float = Field(
        30.0, description="How often the registry looks for daily schedules that are due."
    )
    # --- email_notification ---------------------------------------------------------
    smtp_host: str = Field("", description="SMTP server of email_notification tasks.")
    smtp_port: int = Field(587, description="SMTP port (587 STARTTLS, 465 implicit TLS, 25 plain).")
    smtp_tls: Literal["starttls", "ssl", "none"] = Field(
        "starttls", description="starttls (upgrade after connecting), ssl (TLS from the start) or none."
    )
    smtp_verify_tls: bool = Field(True, description="Verify the SMTP server's certificate and host name.")
    smtp_ca_file: str = Field("", description="CA bundle that verifies the SMTP server (default: the system's).")
    smtp_username: str = Field("", description="SMTP login, if the server wants one.")
    smtp_password: str = Field("", description="Password of smtp_username.")
    smtp_from: str = Field("", description="The From address of email_notification tasks.")
    smtp_timeout_seconds: float = Field(30.0, description="Deadline of one SMTP conversation.")
    # --- document_processing ----------------------------------------------------------
    embeddings_base_url: str = Field(
        "",
        description="OpenAI-compatible API of embeddings (e.g. https://openrouter.ai/api/v1); default openai_base_url.",
    )
    embeddings_api_key: str = Field("", description="API key of embeddings_base_url; default openai_api_key.")
    embeddings_model: str = Field("text-embedding-3-small", description="The embeddings model.")
    embeddings_batch_size: int = Field(64, ge=1, le=2048, description="Chunks per embeddings request.")
    # --- webhook_delivery and external_sync -------------------------------------------
    background_signing_secret: str = Field(
        "", description="Secret that signs webhook_delivery bodies sent with sign_payload (Standard Webhooks)."
    )
    n8n_webhook_url: str = Field("", description="Base URL of the N8N instance n8n-sync tasks trigger.")
    n8n_webhook_secret: str = Field("", description="Secret that signs calls to N8N (empty: unsigned).")
    external_sync_timeout_seconds: float = Field(30.0, description="Deadline of one external_sync or webhook call.")

    def admins(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.admin_owners.split(",") if part.strip())


def background_settings(settings: Settings) -> BackgroundSettings:
    """``settings`` with the background knobs read from the environment beside them."""
    if isinstance(settings, BackgroundSettings):
        return settings
    return BackgroundSettings(**settings.model_dump())
