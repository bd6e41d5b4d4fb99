"""Who is calling: API keys, JWT bearer tokens, and service-to-service calls.

Every service checks credentials in the same interceptor (:mod:`mediatasks.core.server`).
The owner of a task always comes from here, never from a request body.

* ``x-api-key``: looked up by SHA-256 in the JetStream KV bucket ``mediatasks-apikeys``
  (keys are stored hashed; created and revoked with ``mediatasks apikey``).
* ``authorization: Bearer <jwt>``: HS256 with ``MEDIATASKS_JWT_HS256_SECRET`` or RS256 with
  ``MEDIATASKS_JWT_PUBLIC_KEY_FILE`` / ``MEDIATASKS_JWKS_FILE``; the owner is ``sub``.
* ``x-mediatasks-internal: <MEDIATASKS_INTERNAL_TOKEN>``: another mediatasks service; it
  names the end user's owner in ``x-mediatasks-owner``.
* ``MEDIATASKS_AUTH_DISABLED=true`` (dev only): anyone is owner ``anonymous``.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import jwt

from mediatasks.core.errors import MediaTasksError, dependency_outage
from mediatasks.core.settings import Settings

if TYPE_CHECKING:
    from jwt.algorithms import AllowedPublicKeys

log = logging.getLogger(__name__)

INTERNAL_HEADER = "x-mediatasks-internal"
OWNER_HEADER = "x-mediatasks-owner"
ANONYMOUS = "anonymous"
# The owner an internal call names to read every owner's tasks. No credential can carry
# it: API keys and JWT subjects naming it are refused.
ALL_OWNERS = "*"
API_KEY_PREFIX = "mt_"
# Seed 003's routes, the only ones whose callers a trusted proxy may name by X-User-ID
# (MEDIATASKS_TRUSTED_PROXY_USER_ID; off by default).
TRUSTED_PROXY_SERVICES = ("/mediatasks.v1.SrtMediaDialect/",)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    owner: str
    kind: str  # "api_key", "jwt", "internal", "anonymous"

    @property
    def internal(self) -> bool:
        return self.kind == "internal"


current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def caller() -> Principal:
    """The principal of the RPC being served (set by the server interceptor)."""
    principal = current_principal.get()
    if principal is None:
        raise unauthenticated("no credentials")
    return principal


def unauthenticated(message: str) -> MediaTasksError:
    return MediaTasksError(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", message)


def check_owner_name(owner: str) -> str:
    """``owner`` if it can name a tenant: not empty, printable, not the all-owners marker."""
    if not owner or not owner.strip() or owner == ALL_OWNERS or not owner.isprintable() or len(owner) > 255:
        raise unauthenticated(f"{owner!r} cannot be an owner")
    return owner


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


class ApiKeyStore:
    """API key records in a JetStream KV bucket, keyed by the key's SHA-256."""

    def __init__(self, kv) -> None:  # nats.js.kv.KeyValue
        self._kv = kv
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def create(self, owner: str, name: str = "") -> str:
        check_owner_name(owner)
        key = new_api_key()
        record = {"owner": owner, "name": name, "created_at": time.time(), "revoked": False}
        await self._kv.put(hash_api_key(key), json.dumps(record).encode())
        return key

    async def revoke(self, key_or_hash: str) -> bool:
        digest = key_or_hash if len(key_or_hash) == 64 else hash_api_key(key_or_hash)
        try:
            entry = await self._kv.get(digest)
        except Exception:  # nats.js.errors.KeyNotFoundError and friends
            return False
        record = json.loads(entry.value)
        record["revoked"] = True
        await self._kv.put(digest, json.dumps(record).encode())
        self._cache.pop(digest, None)
        return True

    async def owner_of(self, key: str) -> str | None:
        digest = hash_api_key(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        # A short cache keeps the hot path off NATS; revocation is seen within 5 s.
        if cached and now - cached[0] < 5.0:
            return cached[1]
        try:
            entry = await self._kv.get(digest)
            record = json.loads(entry.value)
            owner = None if record.get("revoked") else str(record["owner"])
        except Exception as exc:
            outage = dependency_outage(exc)
            if outage is None:  # no such key (KeyNotFoundError), or a record that is not one
                owner = None
            elif cached:  # NATS away for a moment (a node lost, an election): the last answer stands
                log.warning("API key lookup failed (%s); using the answer from %.0f s ago", exc, now - cached[0])
                return cached[1]
            else:  # not "unknown key": the client must retry, not give up on a valid key
                raise outage from exc
        self._cache[digest] = (now, owner)
        return owner


class Authenticator:
    """Turns call metadata into a :class:`Principal` or an UNAUTHENTICATED error."""

    def __init__(self, settings: Settings, api_keys: ApiKeyStore | None = None) -> None:
        self.settings = settings
        self.api_keys = api_keys
        self._jwt_keys = self._load_jwt_keys(settings)
        if settings.auth_disabled:
            log.warning(
                "AUTH IS DISABLED (MEDIATASKS_AUTH_DISABLED=true): every caller is owner %r; "
                "never run like this outside development",
                ANONYMOUS,
            )

    @staticmethod
    def _load_jwt_keys(settings: Settings) -> list[tuple[str, str | AllowedPublicKeys]]:
        keys: list[tuple[str, str | AllowedPublicKeys]] = []
        if settings.jwt_hs256_secret:
            keys.append(("HS256", settings.jwt_hs256_secret))
        if settings.jwt_public_key_file:
            keys.append(("RS256", Path(settings.jwt_public_key_file).read_text()))
        if settings.jwks_file:
            jwks = jwt.PyJWKSet.from_json(Path(settings.jwks_file).read_text())
            keys.extend((key.algorithm_name or "RS256", key.key) for key in jwks.keys)
        return keys

    async def authenticate(self, metadata: dict[str, str]) -> Principal:
        internal = metadata.get(INTERNAL_HEADER)
        if internal is not None:
            token = self.settings.internal_token
            if (token and hmac.compare_digest(internal, token)) or (not token and self.settings.auth_disabled):
                return Principal(metadata.get(OWNER_HEADER) or ANONYMOUS, "internal")
            raise unauthenticated("bad internal token")
        api_key = metadata.get("x-api-key")
        if api_key:
            owner = await self.api_keys.owner_of(api_key) if self.api_keys else None
            if owner is None:
                raise unauthenticated("unknown or revoked API key")
            return Principal(check_owner_name(owner), "api_key")
        bearer = metadata.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            return Principal(self._verify_jwt(bearer[7:].strip()), "jwt")
        if self.settings.auth_disabled:
            return Principal(ANONYMOUS, "anonymous")
        raise unauthenticated("send an X-API-Key header or an Authorization: Bearer token")

    def trusted_proxy_user(self, method_path: str, metadata: dict[str, str]) -> Principal | None:
        """The caller a trusted proxy names in X-User-ID, on seed 003's routes, in the
        trusted-proxy mode only, and only when the call carries no credential of its own."""
        if not self.settings.trusted_proxy_user_id or not method_path.startswith(TRUSTED_PROXY_SERVICES):
            return None
        if metadata.get("x-api-key") or metadata.get("authorization") or INTERNAL_HEADER in metadata:
            return None
        user = metadata.get("x-user-id", "").strip()
        if not user:
            raise unauthenticated("Missing X-User-ID header. Please provide user identification.")
        return Principal(check_owner_name(user), "trusted_proxy")

    def _verify_jwt(self, token: str) -> str:
        if not self._jwt_keys:
            raise unauthenticated("JWT is not configured on this server")
        last_error: Exception | None = None
        settings = self.settings
        # A token must expire; audience and issuer are checked when this server names them.
        required = (
            ["sub", "exp"] + (["aud"] if settings.jwt_audience else []) + (["iss"] if settings.jwt_issuer else [])
        )
        for algorithm, key in self._jwt_keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[algorithm],
                    audience=settings.jwt_audience or None,
                    issuer=settings.jwt_issuer or None,
                    leeway=settings.jwt_leeway_seconds,
                    options={"require": required, "verify_aud": bool(settings.jwt_audience)},
                )
            except jwt.PyJWTError as exc:
                last_error = exc
                continue
            return check_owner_name(str(claims["sub"]))
        raise unauthenticated(f"invalid token: {last_error}")
