"""The client: token refresh once on 40001/42001, bounded retries, no retry on quota/window."""

from __future__ import annotations

import asyncio

import pytest

from mediabao.wechat import errors
from mediabao.wechat.client import AsyncWeChatClient, WeChatClient
from mediabao.wechat.selectors import call_counts
from mediabao.wechat.tokens import credentials_for, token_store

pytestmark = pytest.mark.django_db
EP = "getcallbackip"


def calls(sim, endpoint=EP):
    return sim.counters().get(endpoint, {}).get("total", 0)


def test_a_call_uses_the_shared_token_and_is_counted(sim, account):
    client = WeChatClient(account)
    assert client.get(f"cgi-bin/{EP}") == {"ip_list": ["127.0.0.1"]}
    assert client.get(f"cgi-bin/{EP}")["ip_list"]
    assert calls(sim, "token") == 1
    assert call_counts(account.appid)[EP] == {"total": 2}
    assert call_counts(account.appid)["token"] == {"total": 1}


def test_an_expired_token_is_refreshed_once_and_the_call_retried(sim, account):
    client = WeChatClient(account)
    client.get(f"cgi-bin/{EP}")
    sim.expire_tokens(account.appid)
    assert client.get(f"cgi-bin/{EP}")["ip_list"]
    assert calls(sim, "token") == 2
    counts = call_counts(account.appid)[EP]
    assert counts["total"] == 3 and sum(v for k, v in counts.items() if k != "total") == 1


def test_a_token_rejected_twice_is_not_refreshed_forever(sim, account):
    client = WeChatClient(account)
    client.get(f"cgi-bin/{EP}")
    sim.set_fault(EP, errcode=40001, error_rate=1.0)
    with pytest.raises(errors.TokenInvalid):
        client.get(f"cgi-bin/{EP}")
    assert calls(sim, "token") == 2  # refreshed exactly once


def test_system_busy_is_retried_with_backoff(sim, account):
    sim.set_fault(EP, errcode=-1, error_rate=1.0, remaining=2)
    assert WeChatClient(account).get(f"cgi-bin/{EP}")["ip_list"]
    assert call_counts(account.appid)[EP] == {"total": 3, "-1": 2}


def test_retries_are_bounded(sim, account):
    sim.set_fault(EP, errcode=-1, error_rate=1.0)
    with pytest.raises(errors.SystemBusy):
        WeChatClient(account).get(f"cgi-bin/{EP}")
    assert call_counts(account.appid)[EP] == {"total": 4, "-1": 4}


def test_http_5xx_and_dropped_connections_are_retried(sim, account):
    sim.set_fault(EP, http_rate=1.0, http_status=502, remaining=1)
    sim.set_fault(EP, drop_rate=1.0, remaining=1)
    assert WeChatClient(account).get(f"cgi-bin/{EP}")["ip_list"]
    assert call_counts(account.appid)[EP]["transport"] == 2


def test_timeouts_are_retried(sim, account, settings):
    WeChatClient(account).get(f"cgi-bin/{EP}")  # token fetched before the fault
    settings.WECHAT_HTTP_TIMEOUT = 0.3
    sim.set_fault(EP, latency_ms=1500, remaining=1)
    assert WeChatClient(account).get(f"cgi-bin/{EP}")["ip_list"]
    assert call_counts(account.appid)[EP]["transport"] == 1


@pytest.mark.parametrize(("code", "cls"), [
    (45009, errors.QuotaExceeded), (45015, errors.OutOfWindow), (45047, errors.ReplyQuotaUsed),
    (43004, errors.NotSubscribed),
])
def test_quota_and_window_errors_are_not_retried(sim, account, code, cls):
    sim.set_fault(EP, errcode=code, error_rate=1.0)
    with pytest.raises(cls) as info:
        WeChatClient(account).get(f"cgi-bin/{EP}")
    assert info.value.errcode == code and "rid" in info.value.errmsg
    assert call_counts(account.appid)[EP] == {"total": 1, str(code): 1}


def test_a_fan_outside_the_window_is_out_of_window_without_retry(sim, account):
    openid = sim.create_fans(account.appid, 1)[0]
    with pytest.raises(errors.OutOfWindow):
        WeChatClient(account).post("cgi-bin/message/custom/send", {
            "touser": openid, "msgtype": "text", "text": {"content": "你好"}})
    assert calls(sim, "message/custom/send") == 1


def test_a_fan_inside_the_window_gets_the_message(sim, account):
    openid = sim.create_fans(account.appid, 1)[0]
    sim.fan_send_text(account.appid, openid, "在吗")
    WeChatClient(account).post("cgi-bin/message/custom/send", {
        "touser": openid, "msgtype": "text", "text": {"content": "你好，欢迎"}})
    assert any(m.get("content") == "你好，欢迎" for m in sim.inbox(account.appid, openid))


def test_async_client_refreshes_retries_and_counts(sim, account):
    token_store().get(credentials_for(account))
    sim.expire_tokens(account.appid)
    sim.set_fault(EP, errcode=-1, error_rate=1.0, remaining=1)

    async def run():
        async with AsyncWeChatClient(account) as client:
            results = await asyncio.gather(*[client.get(f"cgi-bin/{EP}") for _ in range(20)])
        return results

    results = asyncio.run(run())
    assert all(r["ip_list"] for r in results)
    assert calls(sim, "token") == 2  # one initial fetch, one refresh for all 20 coroutines
    assert call_counts(account.appid)[EP]["total"] >= 21


def test_async_client_raises_typed_errors(sim, account):
    sim.set_fault(EP, errcode=45009, error_rate=1.0)

    async def run():
        async with AsyncWeChatClient(account) as client:
            await client.get(f"cgi-bin/{EP}")

    with pytest.raises(errors.QuotaExceeded):
        asyncio.run(run())
    assert call_counts(account.appid)[EP] == {"total": 1, "45009": 1}


def test_uploads_go_through_the_same_path(sim, account):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "JPEG")
    sim.set_fault("media/upload", errcode=-1, error_rate=1.0, remaining=1)
    result = WeChatClient(account).upload("cgi-bin/media/upload",
                                          {"media": ("a.jpg", buffer.getvalue(), "image/jpeg")},
                                          type="image")
    assert result["media_id"] and result["type"] == "image"
    assert call_counts(account.appid)["media/upload"] == {"total": 2, "-1": 1}


def test_json_bodies_keep_chinese_as_utf8(sim, account):
    openid = sim.create_fans(account.appid, 1)[0]
    sim.fan_send_text(account.appid, openid, "hi")
    WeChatClient(account).post("cgi-bin/message/custom/send", {
        "touser": openid, "msgtype": "text", "text": {"content": "中文😀"}})
    assert sim.inbox(account.appid, openid)[-1]["content"] == "中文😀"
