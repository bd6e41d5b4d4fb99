"""Webhook secrets at rest: encrypted with a key from settings, never stored or returned
in clear.

The key is ``MEDIATASKS_SECRETS_KEY`` (any string), or else derived from
``MEDIATASKS_INTERNAL_TOKEN``, which every deployment sets; Fernet (AES-128-CBC with an
HMAC-SHA256 tag) does the encryption. Values written before encryption existed have no
prefix and are read as they are.
"""

from __future__ import annotations

import base64
import hashlib
import logging

from cryptography.fernet import Fernet, InvalidToken

from mediatasks.core.settings import Settings

log = logging.getLogger(__name__)

_PREFIX = "fernet:"


class SecretBox:
    def __init__(self, settings: Settings) -> None:
        material = settings.secrets_key or settings.internal_token
        if not material:
            log.warning(
                "neither MEDIATASKS_SECRETS_KEY nor MEDIATASKS_INTERNAL_TOKEN is set: webhook secrets are "
                "encrypted with a development key; set one of them outside development"
            )
            material = "mediatasks-development-key"
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()))

    def seal(self, secret: str) -> str:
        """What to store for ``secret`` ("" stays "")."""
        if not secret:
            return ""
        return _PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        """The secret ``stored`` holds; a value from before encryption is returned as it is."""
        if not stored.startswith(_PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored[len(_PREFIX) :].encode()).decode()
        except InvalidToken:
            # The key changed: the delivery goes out unsigned rather than not at all, and says so.
            log.error("a webhook secret cannot be decrypted with the configured MEDIATASKS_SECRETS_KEY")
            return ""
