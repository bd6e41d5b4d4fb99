"""Seed 003's X-User-ID identity: only in the trusted-proxy mode, only on its routes, only
without another credential."""

from __future__ import annotations

import pytest
from mediatasks.core.auth import Authenticator
from mediatasks.core.errors import MediaTasksError
from mediatasks.core.settings import Settings

STATUS = "/mediatasks.v1.SrtMediaDialect/GetSrtTaskStatus"
NATIVE = "/mediatasks.v1.TaskRegistry/GetTask"


def test_off_by_default():
    assert Settings().trusted_proxy_user_id is False
    assert Authenticator(Settings()).trusted_proxy_user(STATUS, {"x-user-id": "user123"}) is None


def test_trusted_mode_names_the_caller_on_seed_003_routes_only():
    auth = Authenticator(Settings(trusted_proxy_user_id=True))
    principal = auth.trusted_proxy_user(STATUS, {"x-user-id": "user123"})
    assert principal is not None and (principal.owner, principal.kind) == ("user123", "trusted_proxy")
    assert auth.trusted_proxy_user(NATIVE, {"x-user-id": "user123"}) is None
    # A call with a credential of its own is judged by that credential alone.
    assert auth.trusted_proxy_user(STATUS, {"x-user-id": "user123", "x-api-key": "mt_bad"}) is None
    assert auth.trusted_proxy_user(STATUS, {"x-user-id": "u", "authorization": "Bearer x"}) is None


@pytest.mark.parametrize("metadata", [{}, {"x-user-id": "  "}, {"x-user-id": "*"}])
def test_trusted_mode_refuses_a_missing_or_impossible_user(metadata):
    with pytest.raises(MediaTasksError) as caught:
        Authenticator(Settings(trusted_proxy_user_id=True)).trusted_proxy_user(STATUS, metadata)
    assert caught.value.reason == "UNAUTHENTICATED"
