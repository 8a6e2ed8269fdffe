"""Typed WeChat errors, one class per handling rule of WECHAT.md §2.

WeChat answers errors with HTTP 200 and ``{"errcode": N, "errmsg": "..."}``; the
client turns each code into an instance of the class below that says what the
caller should do (``retryable``, ``needs_token_refresh``, ``needs_reauthorization``).
``meaning`` is a translated, human sentence for the console; ``errmsg`` keeps
WeChat's own text (with its ``rid``) for logs and support.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class WeChatError(Exception):
    """An error answered by WeChat (or the way to it)."""

    #: WeChat's errcode; ``None`` for transport problems (timeouts, 5xx, bad JSON).
    errcode: int | None = None
    #: The client retries this automatically with bounded backoff.
    retryable: bool = False
    #: The access token was rejected: refresh it (once) and retry.
    needs_token_refresh: bool = False
    #: The account's authorization is gone: the operator must authorize it again.
    needs_reauthorization: bool = False
    default_meaning: str | Promise = _("WeChat rejected the request.")

    def __init__(self, errcode: int | None = None, errmsg: str = "",
                 meaning: str | Promise | None = None) -> None:
        if errcode is not None:
            self.errcode = errcode
        self.errmsg = errmsg
        self._meaning = meaning
        super().__init__(f"{self.errcode}: {errmsg}" if self.errcode is not None else errmsg)

    @property
    def meaning(self) -> str:
        """What the operator reads in the console (translated)."""
        return str(self._meaning or self.default_meaning)


class TransportError(WeChatError):
    """Timeout, connection error, HTTP 5xx or a body that is not JSON."""

    retryable = True
    default_meaning = _("WeChat could not be reached. Please try again later.")


class SystemBusy(WeChatError):
    errcode = -1
    retryable = True
    default_meaning = _("WeChat is busy. Please try again later.")


class TokenInvalid(WeChatError):
    """40001 / 40014 / 42001: refresh the token and retry once."""

    errcode = 40001
    needs_token_refresh = True
    default_meaning = _("The access token is invalid or expired.")


class InvalidAppId(WeChatError):
    errcode = 40013
    default_meaning = _("Invalid AppID.")


class InvalidAppSecret(WeChatError):
    errcode = 40125
    default_meaning = _("Invalid AppSecret.")


class AppSecretFrozen(WeChatError):
    errcode = 40243
    default_meaning = _("The AppSecret is frozen. Unfreeze it in the WeChat admin console.")


class IpNotWhitelisted(WeChatError):
    errcode = 40164
    default_meaning = _("This server's IP address is not on the account's IP whitelist.")


class ComponentAccount(WeChatError):
    errcode = 61024
    default_meaning = _("This AppID belongs to a third-party platform, not to an official account.")


class InvalidOpenId(WeChatError):
    errcode = 40003
    default_meaning = _("Invalid OpenID.")


class InvalidTemplate(WeChatError):
    errcode = 40037
    default_meaning = _("Invalid template ID.")


class InvalidCode(WeChatError):
    """40029 / 40163: an OAuth code that is wrong or already used."""

    errcode = 40029
    default_meaning = _("The authorization code is invalid or was already used.")


class NotSubscribed(WeChatError):
    errcode = 43004
    default_meaning = _("The recipient does not follow the account.")


class Blacklisted(WeChatError):
    errcode = 43019
    default_meaning = _("The recipient is on the account's blacklist.")


class UserRefused(WeChatError):
    errcode = 43101
    default_meaning = _("The user refused to receive this message.")


class TooManyArticles(WeChatError):
    errcode = 45008
    default_meaning = _("Only one article may be sent.")


class QuotaExceeded(WeChatError):
    """45009: the daily quota of this API is used up; stop until it resets."""

    errcode = 45009
    default_meaning = _("The daily API quota is used up.")


class MinuteQuotaExceeded(WeChatError):
    """45011: retry after the minute rolls over (the caller schedules that)."""

    errcode = 45011
    retry_after = 60
    default_meaning = _("Too many calls this minute. Please retry in a minute.")


class OutOfWindow(WeChatError):
    """45015: outside the 48-hour customer-service window."""

    errcode = 45015
    default_meaning = _("The fan has not interacted within 48 hours.")


class ReplyQuotaUsed(WeChatError):
    """45047: the customer-service quota of the current window is used up."""

    errcode = 45047
    default_meaning = _("The customer-service message quota for this fan is used up.")


class ClientMsgIdError(WeChatError):
    """45065 / 45066 / 45067: clientmsgid already used, reused too fast, or too long."""

    errcode = 45065
    default_meaning = _("This message was already submitted.")


class InvalidArgument(WeChatError):
    """47001 / 47003 / 40036 …: the request itself is wrong."""

    errcode = 47001
    default_meaning = _("The request data is invalid.")


class ApiUnauthorized(WeChatError):
    """48001 / 61003 / 61007: the account lacks this permission."""

    errcode = 48001
    default_meaning = _("The account is not allowed to use this API.")


class UserLimited(WeChatError):
    errcode = 50002
    default_meaning = _("The account or user is restricted by WeChat.")


class ComponentTicketInvalid(WeChatError):
    """61005 / 61006: wait for the next component_verify_ticket push."""

    errcode = 61005
    default_meaning = _("The component verify ticket is missing or expired.")


class RefreshTokenInvalid(WeChatError):
    """61023: the authorizer refresh token is gone; the account must be authorized again."""

    errcode = 61023
    needs_reauthorization = True
    default_meaning = _("The authorization is no longer valid. Please authorize the account again.")


class AdminConfirmationRequired(WeChatError):
    errcode = 89503
    default_meaning = _("An administrator must confirm calls from this IP address.")


_BY_CODE: dict[int, type[WeChatError]] = {
    -1: SystemBusy,
    40001: TokenInvalid, 40014: TokenInvalid, 42001: TokenInvalid,
    40013: InvalidAppId, 40125: InvalidAppSecret, 40243: AppSecretFrozen,
    40164: IpNotWhitelisted, 61004: IpNotWhitelisted, 61024: ComponentAccount,
    40003: InvalidOpenId, 46004: InvalidOpenId, 40037: InvalidTemplate,
    40029: InvalidCode, 40163: InvalidCode,
    43004: NotSubscribed, 43019: Blacklisted, 43101: UserRefused,
    45008: TooManyArticles, 45009: QuotaExceeded, 45011: MinuteQuotaExceeded,
    45015: OutOfWindow, 45047: ReplyQuotaUsed,
    45065: ClientMsgIdError, 45066: ClientMsgIdError, 45067: ClientMsgIdError,
    40036: InvalidArgument, 40053: InvalidArgument, 47001: InvalidArgument, 47003: InvalidArgument,
    48001: ApiUnauthorized, 61003: ApiUnauthorized, 61007: ApiUnauthorized,
    50002: UserLimited,
    61005: ComponentTicketInvalid, 61006: ComponentTicketInvalid,
    61023: RefreshTokenInvalid,
    89503: AdminConfirmationRequired, 89506: AdminConfirmationRequired,
    89507: AdminConfirmationRequired,
}

#: Codes the client retries with backoff (WECHAT.md §2: only -1 among WeChat codes).
RETRYABLE_CODES = frozenset(code for code, cls in _BY_CODE.items() if cls.retryable)
#: Codes that mean "refresh the token and retry once".
TOKEN_CODES = frozenset(code for code, cls in _BY_CODE.items() if cls.needs_token_refresh)


def coerce_errcode(value: object) -> int:
    """WeChat sometimes sends ``errcode`` as a string (WECHAT.md §0)."""
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return -1


def error_for(errcode: int, errmsg: str = "") -> WeChatError:
    """The typed error for an errcode (a plain :class:`WeChatError` for unknown codes)."""
    cls = _BY_CODE.get(errcode, WeChatError)
    return cls(errcode, errmsg)
