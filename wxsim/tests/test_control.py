"""Control API: faults, clock, counters, crowd, state file, standalone start."""

from __future__ import annotations

import time

import pytest
import requests

from wxsim import names
from wxsim.state import State
from wxsim.testing import SimError, run_wxsim

from .helpers import Api, assert_err


def test_faults_latency_errors_5xx_drops(wx, client, account):
    api = Api(wx.base_url, account)
    appid = account["appid"]
    api.fetch_token()
    try:
        client.set_fault("user/get", appid=appid, latency_ms=150)
        t0 = time.perf_counter()
        assert "total" in api.get("user/get")
        assert time.perf_counter() - t0 >= 0.15
        client.clear_faults()
        client.set_fault("user/get", appid=appid, error_rate=1.0, errcode=45011, remaining=1)
        assert_err(api.get("user/get"), 45011)
        assert "total" in api.get("user/get")  # remaining=1: only the next call
        client.set_fault("user/get", appid=appid, http_rate=1.0, http_status=503, remaining=1)
        r = requests.get(f"{wx.base_url}/cgi-bin/user/get", params={"access_token": api.token},
                         timeout=5)
        assert r.status_code == 503
        client.set_fault("user/get", appid=appid, drop_rate=1.0, remaining=1)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{wx.base_url}/cgi-bin/user/get", params={"access_token": api.token},
                         timeout=5)
        other = client.create_account()
        assert "total" in Api(wx.base_url, other).get("user/get")  # scoped by appid
        with pytest.raises(SimError):
            client.set_fault("user/get", error_rate=2.0)
    finally:
        client.clear_faults()


def test_expire_tokens_early(wx, client, account):
    api = Api(wx.base_url, account)
    api.fetch_token()
    assert client.expire_tokens(account["appid"]) >= 1
    assert_err(api.get("user/get"), 42001)


def test_calls_and_counters(wx, client, account):
    api = Api(wx.base_url, account)
    api.get("user/get")
    api.get("user/info", openid="nope")
    calls = client.calls(appid=account["appid"])
    assert [(c["endpoint"], c["errcode"]) for c in calls][-2:] == [("user/get", 0),
                                                                   ("user/info", 40003)]
    counters = client.counters()
    assert counters["user/info"]["by_errcode"]["40003"] >= 1


def test_fan_creation_nicknames_and_bounds(client, account):
    appid = account["appid"]
    fans = client.create_fans(appid, 300)
    nicks = [names.nickname(appid, i) for i in range(2000)]
    assert any(any(ord(ch) > 0xFFFF for ch in n) for n in nicks)  # emoji
    assert any(len(n) > 30 for n in nicks)  # very long ones
    assert len(set(nicks)) > 1500
    view = client.fan(appid, fans[0])
    assert view["nickname"] and view["following"] and len(view["openid"]) == 28
    custom = client.create_fans(appid, 1, nickname="🌸 小红", openid="o_custom_openid_000000000001")
    assert client.fan(appid, custom[0])["nickname"] == "🌸 小红"
    with pytest.raises(SimError) as exc:
        client.create_fans(appid, 0)
    assert exc.value.status == 400
    with pytest.raises(SimError) as exc:
        client.fan_send_text(appid, "unknown", "x")
    assert exc.value.status == 404
    r = requests.post(f"{client.base_url}/_sim/accounts", data=b"{bad", timeout=5)
    assert r.status_code == 400 and r.json()["ok"] is False


def test_crowd_spreads_posters_bounded(wx, client, receiver):
    acct = client.create_account(server_url=receiver.url)
    appid = acct["appid"]
    api = Api(wx.base_url, acct)
    entry = api.post("qrcode/create", {"action_name": "QR_LIMIT_STR_SCENE",
                                       "action_info": {"scene": {"scene_str": "activity:1"}}})
    media = requests.post(f"{wx.base_url}/cgi-bin/media/upload",
                          params={"access_token": api.token, "type": "image"},
                          files={"media": ("p.jpg", names.avatar_jpeg("x", 1), "image/jpeg")},
                          timeout=10).json()["media_id"]

    def platform(req):
        # Reply to every subscribe with an image: the poster.
        if "subscribe" in req["body"] and "unsubscribe" not in req["body"]:
            q = req["query"]
            return 200, (f"<xml><ToUserName><![CDATA[{q['openid']}]]></ToUserName>"
                         f"<FromUserName><![CDATA[{acct['original_id']}]]></FromUserName>"
                         "<CreateTime>1</CreateTime><MsgType><![CDATA[image]]></MsgType>"
                         f"<Image><MediaId><![CDATA[{media}]]></MediaId></Image></xml>"), 0
        return 200, "success", 0

    receiver.handler = platform
    run = client.start_crowd(appid=appid, ticket=entry["ticket"], seeds=3, friends=2,
                             p_scan=1.0, p_unfollow=0.5, unfollow_after=0.1, max_fans=15,
                             rate=200, max_seconds=20, idle_seconds=0.5, seed=7)
    deadline = time.monotonic() + 20
    while run["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        run = client.crowd(run["id"])
    stats = run["stats"]
    assert run["state"] == "finished", run
    assert run["fans_created"] == 15 and stats["joined"] == 15, run
    assert stats["posters"] >= 3 and max(int(d) for d in stats["by_depth"]) >= 2
    assert stats["unfollows"] > 0 and stats["errors"] == 0, run
    with pytest.raises(SimError):
        client.start_crowd(appid=appid, ticket=entry["ticket"], max_fans=10**9)


def test_crowd_opens_news_links_as_the_fan(wx, client, receiver):
    """open_links: every joiner taps the news card the platform sends; the OAuth page is
    answered as that fan and the platform's page gets a code for them."""
    acct = client.create_account(server_url=receiver.url, type="service", verified=True)
    appid = acct["appid"]
    api = Api(wx.base_url, acct)
    entry = api.post("qrcode/create", {"action_name": "QR_LIMIT_STR_SCENE",
                                       "action_info": {"scene": {"scene_str": "rehearsal"}}})
    landing = receiver.url.rsplit("/", 1)[0] + "/landing"
    link = (f"{wx.base_url}/connect/oauth2/authorize?appid={appid}&redirect_uri={landing}"
            "&response_type=code&scope=snsapi_userinfo&state=x#wechat_redirect")
    codes: list[str] = []

    def platform(req):
        if req["path"].endswith("/landing"):
            codes.append(req["query"].get("code", ""))
            return 200, "poster page", 0
        if "<Content><![CDATA[海报]]></Content>" in req["body"]:
            q = req["query"]
            return 200, (f"<xml><ToUserName><![CDATA[{q['openid']}]]></ToUserName>"
                         f"<FromUserName><![CDATA[{acct['original_id']}]]></FromUserName>"
                         "<CreateTime>1</CreateTime><MsgType><![CDATA[news]]></MsgType>"
                         "<ArticleCount>1</ArticleCount><Articles><item><Title><![CDATA[海报]]></Title>"
                         f"<Url><![CDATA[{link}]]></Url></item></Articles></xml>"), 0
        return 200, "success", 0

    receiver.handler = platform
    run = client.start_crowd(appid=appid, ticket=entry["ticket"], seeds=3, friends=0, keyword="海报",
                             open_links=True, max_fans=3, rate=100, max_seconds=20, idle_seconds=0.5,
                             seed=3)
    deadline = time.monotonic() + 20
    while run["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        run = client.crowd(run["id"])
    assert run["state"] == "finished" and run["stats"]["errors"] == 0, run
    assert run["stats"]["links_opened"] == 3 and len(set(codes)) == 3 and all(codes)
    token = requests.get(f"{wx.base_url}/sns/oauth2/access_token", timeout=5, params={
        "appid": appid, "secret": acct["secret"], "code": codes[0],
        "grant_type": "authorization_code"}).json()
    assert token.get("openid"), token
    assert client.fan(appid, token["openid"])["following"]  # a fan the crowd made
    # Without the knob nobody opens anything.
    codes.clear()
    run = client.start_crowd(appid=appid, ticket=entry["ticket"], seeds=2, friends=0, keyword="海报",
                             max_fans=2, rate=100, max_seconds=20, idle_seconds=0.5)
    while run["state"] == "running" and time.monotonic() < deadline + 20:
        time.sleep(0.1)
        run = client.crowd(run["id"])
    assert run["stats"]["links_opened"] == 0 and codes == []


def test_state_file_roundtrip(tmp_path):
    with run_wxsim(state_file=str(tmp_path / "s.json")) as sim:
        c = sim.client
        acct = c.create_account(appid="wxsavedaccount01", server_url="http://127.0.0.1:9/x")
        fans = c.create_fans(acct["appid"], 5)
        c.fan_unsubscribe(acct["appid"], fans[1])
        c.create_template(acct["appid"], "t", "{{first.DATA}}")
        c.create_component(component_appid="wxcomp000000001")
        c.advance_clock(100)
    st = State()
    st.load(str(tmp_path / "s.json"))
    a = st.accounts["wxsavedaccount01"]
    assert len(a.fans) == 5 and a.fans.following == 4 and a.fans.openids[0] == fans[0]
    assert len(a.templates) == 1 and "wxcomp000000001" in st.components
    assert st.clock.offset >= 100


def test_standalone_subprocess_prints_control_url():
    with run_wxsim(subprocess=True) as sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
        info = sim.client.info()
        assert info["control_url"] == sim.base_url + "/_sim/"
        acct = sim.client.create_account()
        r = requests.get(f"{sim.base_url}/cgi-bin/token", params={
            "grant_type": "client_credential", "appid": acct["appid"],
            "secret": acct["secret"]}, timeout=5).json()
        assert r["expires_in"] == 7200


def test_reset_keeps_logging_and_inbox_switch():
    with run_wxsim() as sim:
        c = sim.client
        acct = c.create_account(record_inbox=False)
        (fan,) = c.create_fans(acct["appid"], 1)
        tid = c.create_template(acct["appid"], "t", "x{{keyword1.DATA}}")["template_id"]
        api = Api(sim.base_url, acct)
        assert api.post("message/template/send", {"touser": fan, "template_id": tid,
                                                  "data": {}})["errcode"] == 0
        assert c.inbox(acct["appid"], fan) == []
        c.reset()
        assert c.info()["accounts"] == 0
        acct2 = c.create_account()
        Api(sim.base_url, acct2).get("user/get")
        assert [x["endpoint"] for x in c.calls()] == ["token", "user/get"]


def test_fan_list_detail_gives_the_ground_truth_in_bulk(wx, client, account):
    appid = account["appid"]
    client.update_account(appid, type="service", verified=True, pushes_enabled=False)
    fans = client.create_fans(appid, 3)
    tid = client.create_template(appid, "通知", "{{keyword1.DATA}}")["template_id"]
    api = Api(wx.base_url, account)
    for openid in (fans[0], fans[0], fans[1]):
        body = api.post("message/template/send", {"touser": openid, "template_id": tid,
                                                   "data": {"keyword1": {"value": "x"}}})
        assert body["errcode"] == 0
    url = f"{client.base_url}/_sim/accounts/{appid}/fans"
    plain = requests.get(url, params={"limit": 3}, timeout=5).json()["fans"]
    assert "inbox_by_channel" not in plain[0]
    rows = requests.get(url, params={"limit": 3, "detail": "1"}, timeout=5).json()["fans"]
    assert [r["inbox_by_channel"] for r in rows] == [{"template": 2}, {"template": 1}, {}]
    assert all(r["qr_scene_str"] == "" and "inbox" not in r for r in rows)
    rows = requests.get(url, params={"limit": 1, "detail": "inbox"}, timeout=5).json()["fans"]
    assert [m["channel"] for m in rows[0]["inbox"]] == ["template", "template"]
