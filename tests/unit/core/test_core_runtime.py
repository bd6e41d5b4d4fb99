"""Pure parts of the shared runtime: submit options, cache keys, sync wait, paging tokens,
backoff, auth, error details, priorities."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import grpc
import jwt
import pytest
from google.rpc import error_details_pb2, status_pb2
from mediatasks.core import topology
from mediatasks.core.auth import Authenticator
from mediatasks.core.clients import channel_target
from mediatasks.core.errors import MediaTasksError, too_large
from mediatasks.core.server import status_details
from mediatasks.core.settings import Settings
from mediatasks.core.submit import cache_key, options_of, prefer_wait
from mediatasks.core.worker import LOW_PRIORITY_SHARE, Worker
from mediatasks.registry.paging import decode_token, encode_token, sort_spec
from mediatasks.registry.store import TaskStore
from mediatasks.v1 import common_pb2, subtitle_pb2
from sqlalchemy.ext.asyncio import create_async_engine


def test_options_come_from_the_request_top_level():
    request = subtitle_pb2.GenerateSubtitlesRequest(
        text="x",
        priority="high",
        webhook_url="https://example.com/h",
        metadata={"a": "1"},
        webhook_events=["task.completed"],
        max_attempts=2,
        no_cache=True,
    )
    options = options_of(request)
    assert options.priority == "high" and options.webhook_url == "https://example.com/h"
    assert dict(options.metadata) == {"a": "1"} and list(options.webhook_events) == ["task.completed"]
    assert options.max_attempts == 2 and options.no_cache


def test_options_bytes_do_not_depend_on_which_defaults_a_request_spelled_out():
    """The registry hashes the options' bytes for idempotency: a request that spells out
    defaults, and one with no options at all, give the bytes of one without them (metadata
    always present, empty), as every version of options_of has."""
    bare = options_of(subtitle_pb2.GenerateSubtitlesRequest(text="x"))
    spelled = options_of(
        subtitle_pb2.GenerateSubtitlesRequest(text="x", priority="", max_attempts=0, no_cache=False, metadata={})
    )
    assert bare.HasField("metadata") and spelled.HasField("metadata")
    assert bare.SerializeToString(deterministic=True) == spelled.SerializeToString(deterministic=True)
    assert bare.SerializeToString(deterministic=True) == common_pb2.SubmitOptions(metadata={}).SerializeToString(
        deterministic=True
    )


def test_cache_key_ignores_options_but_not_content_provider_or_model():
    a = subtitle_pb2.GenerateSubtitlesRequest(text="same", priority="low", webhook_url="https://a.example")
    b = subtitle_pb2.GenerateSubtitlesRequest(text="same", priority="urgent", metadata={"k": "v"})
    c = subtitle_pb2.GenerateSubtitlesRequest(text="other")
    assert cache_key("subtitle_generation", a, "local") == cache_key("subtitle_generation", b, "local")
    assert cache_key("subtitle_generation", a, "local") != cache_key("subtitle_generation", c, "local")
    assert cache_key("subtitle_generation", a, "openai") != cache_key("subtitle_generation", a, "local")
    assert cache_key("subtitle_generation", a, "openai", "m1") != cache_key("subtitle_generation", a, "openai", "m2")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("", 0.0), ("wait=5", 5.0), ("respond-async, wait=12", 12.0), ("wait=600", 60.0), ("handling=lenient", 0.0)],
)
def test_prefer_wait(header, seconds):
    assert prefer_wait({"prefer": header}) == seconds


def test_page_token_round_trip_and_tampering():
    import datetime as dt
    import uuid

    when = dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC)
    last = uuid.uuid4()
    token = encode_token(when, last, "-created_at")
    assert decode_token(token, "-created_at") == (when, last)
    with pytest.raises(MediaTasksError):
        decode_token(token, "created_at")  # the sort changed under the cursor
    with pytest.raises(MediaTasksError):
        decode_token("not-a-token", "")
    assert sort_spec("") == ("created_at", True)
    with pytest.raises(MediaTasksError):
        sort_spec("owner")


def test_backoff_follows_the_schedule_with_jitter():
    # An engine that is never connected: backoff reads no database.
    engine = create_async_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    store = TaskStore(engine=engine, settings=Settings(retry_schedule_seconds="30,300,1800"))
    for attempt, base in ((1, 30), (2, 300), (3, 1800), (7, 1800)):
        delays = [store.backoff(attempt) for _ in range(200)]
        assert all(0.8 * base <= d <= 1.2 * base for d in delays)
        assert max(delays) - min(delays) > 0.05 * base  # jittered, not fixed


def test_channel_target_balances_replica_lists():
    assert channel_target("registry:50051") == "registry:50051"
    assert channel_target("127.0.0.1:1,127.0.0.1:2") == "ipv4:127.0.0.1:1,127.0.0.1:2"


def test_status_details_carry_error_info():
    error = too_large("the file is 2 bytes; the limit is 1", 1)
    status = status_pb2.Status.FromString(status_details(error))
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.domain, dict(info.metadata)) == ("INPUT_TOO_LARGE", "mediatasks", {"limit_bytes": "1"})


def _authenticate(settings: Settings, metadata: dict[str, str]):
    return asyncio.run(Authenticator(settings).authenticate(metadata))


def test_jwt_bearer_gives_the_owner_from_sub():
    settings = Settings(jwt_hs256_secret="s3cret-for-tests-only-32-bytes-long!")
    token = jwt.encode({"sub": "carol", "exp": int(time.time()) + 60}, settings.jwt_hs256_secret, algorithm="HS256")
    principal = _authenticate(settings, {"authorization": f"Bearer {token}"})
    assert (principal.owner, principal.kind) == ("carol", "jwt")
    forged = jwt.encode({"sub": "carol"}, "another-secret-of-enough-length-000", algorithm="HS256")
    with pytest.raises(MediaTasksError) as refused:
        _authenticate(settings, {"authorization": f"Bearer {forged}"})
    assert refused.value.reason == "UNAUTHENTICATED"
    # Expired past the clock-skew leeway (30 s by default).
    expired = jwt.encode({"sub": "carol", "exp": int(time.time()) - 120}, settings.jwt_hs256_secret, algorithm="HS256")
    with pytest.raises(MediaTasksError):
        _authenticate(settings, {"authorization": f"Bearer {expired}"})


@pytest.mark.parametrize(
    ("claims", "settings_extra"),
    [
        ({"sub": "carol"}, {}),  # no exp: a token that never expires is refused
        ({"sub": "", "exp": "FUTURE"}, {}),  # an empty subject names nobody
        ({"sub": "*", "exp": "FUTURE"}, {}),  # the all-owners marker is no owner
        ({"sub": "carol", "exp": "FUTURE", "aud": "other"}, {"jwt_audience": "mediatasks"}),
        ({"sub": "carol", "exp": "FUTURE"}, {"jwt_audience": "mediatasks"}),  # aud required when configured
        ({"sub": "carol", "exp": "FUTURE", "iss": "evil"}, {"jwt_issuer": "https://idp.example"}),
    ],
    ids=["no-exp", "empty-sub", "star-sub", "wrong-aud", "missing-aud", "wrong-iss"],
)
def test_jwts_that_are_refused(claims: dict, settings_extra: dict) -> None:
    settings = Settings(jwt_hs256_secret="s3cret-for-tests-only-32-bytes-long!", **settings_extra)
    claims = {k: (int(time.time()) + 60 if v == "FUTURE" else v) for k, v in claims.items()}
    token = jwt.encode(claims, settings.jwt_hs256_secret, algorithm="HS256")
    with pytest.raises(MediaTasksError) as refused:
        _authenticate(settings, {"authorization": f"Bearer {token}"})
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_jwt_audience_and_issuer_accepted_when_they_match() -> None:
    settings = Settings(
        jwt_hs256_secret="s3cret-for-tests-only-32-bytes-long!", jwt_audience="mediatasks", jwt_issuer="https://idp"
    )
    claims = {"sub": "dave", "exp": int(time.time()) + 60, "aud": "mediatasks", "iss": "https://idp"}
    token = jwt.encode(claims, settings.jwt_hs256_secret, algorithm="HS256")
    assert _authenticate(settings, {"authorization": f"Bearer {token}"}).owner == "dave"


def test_no_credentials_refused_unless_auth_is_disabled(caplog):
    with pytest.raises(MediaTasksError) as refused:
        _authenticate(Settings(), {})
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    with caplog.at_level("WARNING"):
        principal = _authenticate(Settings(auth_disabled=True), {})
    assert principal.owner == "anonymous"
    assert "AUTH IS DISABLED" in caplog.text


def test_internal_token_needs_the_shared_secret():
    settings = Settings(internal_token="tok")
    principal = _authenticate(settings, {"x-mediatasks-internal": "tok", "x-mediatasks-owner": "dave"})
    assert principal.internal and principal.owner == "dave"
    with pytest.raises(MediaTasksError):
        _authenticate(settings, {"x-mediatasks-internal": "guess", "x-mediatasks-owner": "dave"})


def test_priority_order_reserves_a_share_for_low_priorities():
    worker = Worker(Settings(), None, None, None, None, {"subtitle_generation": None})
    firsts = Counter(worker._pick_order()[0][1] for _ in range(LOW_PRIORITY_SHARE * 100))
    assert firsts["urgent"] == LOW_PRIORITY_SHARE * 100 - 100
    assert firsts["low"] == 100  # one pick in LOW_PRIORITY_SHARE starts from the bottom
    order = [priority for _type, priority in worker._pick_order()]
    assert sorted(order, key=topology.PRIORITIES.index) in (order, order[::-1])


def _rsa_key():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_jwt_rs256_with_a_public_key_file(tmp_path):
    from cryptography.hazmat.primitives import serialization

    key = _rsa_key()
    public = tmp_path / "public.pem"
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    settings = Settings(jwt_public_key_file=str(public))
    token = jwt.encode({"sub": "erin", "exp": int(time.time()) + 60}, key, algorithm="RS256")
    assert _authenticate(settings, {"authorization": f"Bearer {token}"}).owner == "erin"
    stranger = jwt.encode({"sub": "erin"}, _rsa_key(), algorithm="RS256")
    with pytest.raises(MediaTasksError):
        _authenticate(settings, {"authorization": f"Bearer {stranger}"})


def test_jwt_verified_against_a_jwks_file(tmp_path):
    import json

    key = _rsa_key()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", alg="RS256", use="sig")
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}))
    settings = Settings(jwks_file=str(jwks))
    token = jwt.encode({"sub": "frank", "exp": int(time.time()) + 60}, key, algorithm="RS256", headers={"kid": "k1"})
    assert _authenticate(settings, {"authorization": f"Bearer {token}"}).owner == "frank"


def test_owner_rate_limiter_buckets_are_per_owner():
    from mediatasks.core.ratelimit import OwnerRateLimiter

    now = [0.0]
    limiter = OwnerRateLimiter(rate=2, burst=4, clock=lambda: now[0])
    for _ in range(4):
        limiter.check("a")
    with pytest.raises(MediaTasksError) as limited:
        limiter.check("a")
    assert limited.value.reason == "RATE_LIMITED" and limited.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    limiter.check("b")  # another owner has its own bucket
    now[0] += 0.5  # one token back at 2/s
    limiter.check("a")
    with pytest.raises(MediaTasksError):
        limiter.check("a")
