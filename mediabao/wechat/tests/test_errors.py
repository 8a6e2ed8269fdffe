"""Every errcode of WECHAT.md §2 has a typed error that says what to do."""

from __future__ import annotations

import pytest
from django.utils import translation

from mediabao.wechat import errors


@pytest.mark.parametrize(("code", "cls", "retryable", "refresh"), [
    (-1, errors.SystemBusy, True, False),
    (40001, errors.TokenInvalid, False, True),
    (40014, errors.TokenInvalid, False, True),
    (42001, errors.TokenInvalid, False, True),
    (40013, errors.InvalidAppId, False, False),
    (40125, errors.InvalidAppSecret, False, False),
    (40164, errors.IpNotWhitelisted, False, False),
    (43004, errors.NotSubscribed, False, False),
    (45009, errors.QuotaExceeded, False, False),
    (45015, errors.OutOfWindow, False, False),
    (45047, errors.ReplyQuotaUsed, False, False),
    (61023, errors.RefreshTokenInvalid, False, False),
])
def test_codes_map_to_typed_errors(code, cls, retryable, refresh):
    exc = errors.error_for(code, "msg rid: 1-2-3")
    assert type(exc) is cls and exc.errcode == code and exc.errmsg == "msg rid: 1-2-3"
    assert exc.retryable is retryable and exc.needs_token_refresh is refresh


def test_refresh_token_invalid_means_reauthorization():
    assert errors.error_for(61023).needs_reauthorization


def test_unknown_codes_are_plain_errors_and_string_codes_are_coerced():
    exc = errors.error_for(99999, "new")
    assert type(exc) is errors.WeChatError and not exc.retryable
    assert errors.coerce_errcode("40001") == 40001 and errors.coerce_errcode(None) == -1


def test_meaning_is_translated():
    with translation.override("en"):
        assert errors.error_for(45009).meaning == "The daily API quota is used up."
    assert errors.TransportError().retryable
