"""Rewards: a code per secured prize, the address form on the mobile page, shipping, CSV;
the activity page's statistics agree with the rows."""

from __future__ import annotations

import pytest

from mediabao.campaigns import services
from mediabao.campaigns.models import RewardClaim
from mediabao.wechat.models import OfficialAccount

pytestmark = pytest.mark.django_db


def _winner(make_activity, acct):
    activity = make_activity(tiers=((1, "帆布袋", 5), (2, "保温杯", None)))
    p = services.join(activity, acct, "seed", nickname="小明")
    for n in range(2):
        services.record_assist(acct, f"f{n}", p.scene, new_fan=True)
    return activity, p


def test_fan_sends_address_and_operator_ships(client, console, make_activity, acct):
    activity, p = _winner(make_activity, acct)
    claims = list(RewardClaim.objects.filter(participant=p).order_by("tier__level"))
    assert len(claims) == 2 and all(len(c.code) == 10 for c in claims)
    assert claims[0].code != claims[1].code
    token = services.h5_token(p)
    shared = client.get(f"/c/me/{token}/").content.decode()  # someone the link was shared with
    assert claims[0].code not in shared and 'id="claim-hint"' in shared
    prefix = f"c{claims[0].pk}-"
    stranger = client.post(f"/c/me/{token}/claim/{claims[0].pk}/", {
        prefix + "name": "冒名", prefix + "phone": "13800138000", prefix + "address": "别人的地址 1 号"})
    assert stranger.status_code == 404
    client.cookies[services.owner_cookie_name(p)] = services.owner_cookie_value(p)
    page = client.get(f"/c/me/{token}/").content.decode()
    assert claims[0].code in page and "帆布袋" in page
    url = f"/c/me/{token}/claim/{claims[0].pk}/"
    bad = client.post(url, {prefix + "name": " ", prefix + "phone": "abc", prefix + "address": "x"})
    assert bad.status_code == 400
    assert set(bad.context["claims"][0][1].errors) == {"name", "phone", "address"}
    ok = client.post(url, {prefix + "name": "王小明", prefix + "phone": "13800138000",
                           prefix + "address": "上海市浦东新区世纪大道 100 号"})
    assert ok.status_code == 302
    claims[0].refresh_from_db()
    assert (claims[0].name, claims[0].phone) == ("王小明", "13800138000")
    # another participant's token cannot touch this claim
    other = services.join(activity, acct, "other")
    assert client.post(f"/c/me/{services.h5_token(other)}/claim/{claims[0].pk}/", {}).status_code == 404
    response = console.post(f"/console/campaigns/rewards/{claims[0].pk}/shipped/", {"shipped": "1"})
    assert response.status_code == 302
    claims[0].refresh_from_db()
    assert claims[0].shipped and claims[0].shipped_at
    late = client.post(url, {prefix + "name": "改", prefix + "phone": "13800138001",
                             prefix + "address": "北京市朝阳区某某路 1 号"})
    assert late.status_code == 400
    claims[0].refresh_from_db()
    assert claims[0].name == "王小明"
    csv_text = console.get(f"/console/campaigns/{activity.pk}/rewards.csv").content.decode("utf-8-sig")
    assert claims[0].code in csv_text and "上海市浦东新区" in csv_text and csv_text.count("\n") == 3


def test_rewards_tenancy(console, make_activity, team_b):
    theirs_acct = OfficialAccount.objects.create(team=team_b, appid="wxcampB00000000005", name="B")
    activity = make_activity(team=team_b, accounts=[theirs_acct], tiers=((1, "x", None),))
    p = services.join(activity, theirs_acct, "seed")
    services.record_assist(theirs_acct, "f", p.scene, new_fan=True)
    claim = RewardClaim.objects.get()
    assert console.post(f"/console/campaigns/rewards/{claim.pk}/shipped/").status_code == 404
    assert console.get(f"/console/campaigns/{activity.pk}/rewards.csv").status_code == 404
    claim.refresh_from_db()
    assert not claim.shipped


def test_detail_page_statistics(console, make_activity, acct):
    activity, p = _winner(make_activity, acct)
    services.record_unfollow(acct, "f1")
    page = console.get(f"/console/campaigns/{activity.pk}/")
    day = page.context["daily"][0]
    assert (day["assists"], day["unfollows"], day["net"], day["joined"], day["claims"]) == (2, 1, 1, 1, 2)
    assert page.context["levels"] == [(1, 1), (2, 2)]
    assert page.context["stats"]["assists"] == 1 and page.context["stats"]["unfollowed"] == 1


def test_rewards_api(api, make_activity, acct, team_b):
    activity, p = _winner(make_activity, acct)
    listed = api.get(f"/api/v1/reward-claims/?activity={activity.pk}&shipped=0").json()
    assert listed["count"] == 2 and {c["prize"] for c in listed["results"]} == {"帆布袋", "保温杯"}
    claim_id = listed["results"][0]["id"]
    response = api.patch(f"/api/v1/reward-claims/{claim_id}/", {"shipped": True, "code": "HACK"},
                         format="json")
    assert response.status_code == 200 and response.json()["shipped"] is True
    assert response.json()["code"] != "HACK"
    assert api.get("/api/v1/reward-claims/?shipped=1").json()["count"] == 1
    assert api.get("/api/v1/reward-claims/?activity=x").status_code == 400
    theirs_acct = OfficialAccount.objects.create(team=team_b, appid="wxcampB00000000006", name="B")
    theirs = make_activity(team=team_b, accounts=[theirs_acct], tiers=((1, "x", None),))
    tp = services.join(theirs, theirs_acct, "s")
    services.record_assist(theirs_acct, "f", tp.scene, new_fan=True)
    their_claim = RewardClaim.objects.get(participant=tp)
    assert api.patch(f"/api/v1/reward-claims/{their_claim.pk}/", {"shipped": True},
                     format="json").status_code == 404


def test_flag_review_and_origin_filter(console, make_activity, acct):
    from mediabao.campaigns.models import Participant
    from mediabao.fans.models import Fan

    activity = make_activity(fraud_max_per_minute=1)
    seed = services.join(activity, acct, "seed")
    for n in range(2):
        services.record_assist(acct, f"f{n}", seed.scene, new_fan=True)
    seed.refresh_from_db()
    assert seed.flagged and not seed.blacklisted
    flagged = console.get(f"/console/campaigns/participants/?activity={activity.pk}&flagged=1")
    assert [p.openid for p in flagged.context["page"]] == ["seed"]
    assert console.post(f"/console/campaigns/participants/{seed.pk}/reviewed/").status_code == 302
    seed.refresh_from_db()
    assert not seed.flagged
    Fan.objects.create(team=acct.team, account=acct, openid="viachannel", source="channel")
    services.join(activity, acct, "viachannel")

    def openids(origin):
        page = console.get(f"/console/campaigns/participants/?origin={origin}").context["page"]
        return {p.openid for p in page}

    assert openids("poster") == {"f0", "f1"}
    assert openids("channel") == {"viachannel"}
    assert openids("other") == {"seed"}
    assert Participant.objects.count() == 4
