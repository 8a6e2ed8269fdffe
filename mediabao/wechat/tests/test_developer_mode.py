"""Developer mode: credentials verified with WeChat, the server URL shown, secrets masked."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from mediabao.wechat.models import Event, OfficialAccount
from mediabao.wechat.services import add_developer_account
from mediabao.wechat.tokens import credentials_for, token_store

pytestmark = [pytest.mark.django_db, pytest.mark.urls("mediabao.wechat.tests.urls")]


def form_data(sim_account, **overrides):
    return {"name": "测试号", "appid": sim_account["appid"], "appsecret": sim_account["secret"],
            "token": sim_account["token"], "encoding_aes_key": sim_account["encoding_aes_key"],
            **overrides}


def test_service_connects_an_account_and_keeps_its_token(sim, sim_account, team_a):
    account = add_developer_account(team_a, **form_data(sim_account))
    assert account.team_id == team_a.pk and account.auth_mode == "developer"
    assert account.appsecret == sim_account["secret"]
    assert account.callback_url.endswith(f"/wechat/callback/{account.appid}/")
    assert sim.counters()["token"]["total"] == 1
    token_store().get(credentials_for(account))
    assert sim.counters()["token"]["total"] == 1  # the verification token is reused


def test_secrets_are_encrypted_at_rest(sim, sim_account, team_a):
    from django.db import connection

    add_developer_account(team_a, **form_data(sim_account))
    with connection.cursor() as cursor:
        cursor.execute("SELECT appsecret, callback_token, encoding_aes_key FROM wechat_officialaccount")
        row = cursor.fetchone()
    assert sim_account["secret"] not in row[0] and sim_account["token"] not in row[1]
    assert sim_account["encoding_aes_key"] not in row[2]


@pytest.mark.parametrize(("overrides", "field"), [
    ({"appsecret": "0" * 32}, "appsecret"),
    ({"appid": "wx00000000deadbeef"}, "appid"),
])
def test_rejected_credentials_name_the_cause(sim, sim_account, team_a, overrides, field):
    with pytest.raises(ValidationError) as info:
        add_developer_account(team_a, **form_data(sim_account, **overrides))
    assert field in info.value.message_dict
    assert ("40125" if field == "appsecret" else "40013") in info.value.message_dict[field][0]
    assert not OfficialAccount.objects.exists()


def test_ip_not_whitelisted_is_explained(sim, sim_account, team_a):
    sim.set_fault("token", errcode=40164, error_rate=1.0)
    with pytest.raises(ValidationError) as info:
        add_developer_account(team_a, **form_data(sim_account))
    assert "40164" in info.value.messages[0]


def test_bad_formats_are_refused_before_calling_wechat(sim, sim_account, team_a):
    with pytest.raises(ValidationError) as info:
        add_developer_account(team_a, **form_data(sim_account, token="a b", encoding_aes_key="short",
                                                  appid="nope"))
    assert set(info.value.message_dict) == {"token", "encoding_aes_key", "appid"}
    assert "token" not in sim.counters()


def test_an_account_of_another_team_is_refused(sim, sim_account, team_a, team_b):
    add_developer_account(team_b, **form_data(sim_account))
    with pytest.raises(ValidationError) as info:
        add_developer_account(team_a, **form_data(sim_account))
    assert "appid" in info.value.message_dict
    assert OfficialAccount.objects.get().team_id == team_b.pk


def test_adding_again_updates_the_credentials(sim, sim_account, team_a):
    add_developer_account(team_a, **form_data(sim_account))
    account = add_developer_account(team_a, **form_data(sim_account, name="新名字", token="NewToken123"))
    assert OfficialAccount.objects.count() == 1
    assert (account.name, account.callback_token) == ("新名字", "NewToken123")


# --- console ----------------------------------------------------------------------

def test_console_form_connects_and_shows_the_server_url(console, sim, sim_account):
    page = console.get("/console/mp/add/").content.decode()
    assert "/wechat/callback/" in page and 'name="encoding_aes_key"' in page
    response = console.post("/console/mp/add/", form_data(sim_account))
    account = OfficialAccount.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/console/mp/{account.pk}/"
    detail = console.get(response["Location"]).content.decode()
    assert f"/wechat/callback/{account.appid}/" in detail
    assert sim_account["secret"] not in detail and sim_account["encoding_aes_key"] not in detail
    assert sim_account["token"] not in detail
    assert sim_account["secret"][-4:] in detail  # masked: last characters only


def test_console_form_shows_wechats_refusal_on_the_field(console, sim, sim_account):
    response = console.post("/console/mp/add/", form_data(sim_account, appsecret="f" * 32))
    page = response.content.decode()
    assert response.status_code == 200 and "40125" in page and "is-invalid" in page
    assert "f" * 32 not in page  # the secret is not echoed back
    assert not OfficialAccount.objects.exists()


def test_account_list_links_to_the_form(console):
    assert 'href="/console/mp/add/"' in console.get("/console/mp/").content.decode()


def test_event_log_filters_and_is_team_scoped(console, account, team_b, client, other_owner):
    for i, (kind, event) in enumerate([("event", "subscribe"), ("text", ""), ("event", "SCAN")]):
        Event.objects.create(team=account.team, account=account, openid=f"o{i}", msg_type=kind,
                             event=event, dedup_key=str(i),
                             payload={"Content": "内容"} if kind == "text" else {})
    page = console.get(f"/console/mp/{account.pk}/events/").content.decode()
    assert page.count('class="event-row"') == 3
    page = console.get(f"/console/mp/{account.pk}/events/?kind=scan").content.decode()
    assert page.count('class="event-row"') == 1 and "SCAN" in page
    page = console.get(f"/console/mp/{account.pk}/events/?kind=text").content.decode()
    assert page.count('class="event-row"') == 1 and "内容" in page
    assert console.get(f"/console/mp/{account.pk}/events/?page=zz").status_code == 200
    client.force_login(other_owner)
    assert client.get(f"/console/mp/{account.pk}/events/").status_code == 404
    assert client.get(f"/console/mp/{account.pk}/").status_code == 404


# --- API --------------------------------------------------------------------------

def test_api_connects_and_never_returns_secrets(api, sim, sim_account):
    response = api.post("/api/v1/accounts/", form_data(sim_account), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["callback_url"].endswith(f"/wechat/callback/{sim_account['appid']}/")
    text = response.content.decode()
    for secret in ("secret", "token", "encoding_aes_key"):
        assert sim_account[secret] not in text
    listed = api.get(f"/api/v1/accounts/{body['id']}/").content.decode()
    assert sim_account["secret"] not in listed and body["appsecret_masked"].endswith(
        sim_account["secret"][-4:])


def test_api_reports_wechats_refusal_in_the_error_format(api, sim, sim_account):
    response = api.post("/api/v1/accounts/", form_data(sim_account, appsecret="x" * 32), format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "40125" in body["fields"]["appsecret"][0]


def test_api_bad_input_is_400_not_500(api, sim):
    assert api.post("/api/v1/accounts/", {"appid": ["x"]}, format="json").status_code == 400
    assert api.post("/api/v1/accounts/", "garbage", content_type="application/json").status_code == 400


def test_api_events_and_calls_are_team_scoped(api, account, team_b, other_owner):
    from mediabao.accounts import services as account_services

    Event.objects.create(team=account.team, account=account, openid="o1", msg_type="event",
                         event="subscribe", dedup_key="k1")
    response = api.get(f"/api/v1/accounts/{account.pk}/events/?kind=subscribe")
    assert response.status_code == 200 and response.json()["count"] == 1
    assert api.get(f"/api/v1/accounts/{account.pk}/calls/").status_code == 200
    other = account_services.create_api_token(user=other_owner, team=team_b, name="b").key
    api.credentials(HTTP_AUTHORIZATION=f"Token {other}")
    for path in (f"/api/v1/accounts/{account.pk}/", f"/api/v1/accounts/{account.pk}/events/",
                 f"/api/v1/accounts/{account.pk}/calls/"):
        assert api.get(path).status_code == 404, path


def test_only_managers_connect_accounts(client, make_user, team_a, member_of, sim, sim_account):
    member = make_user("carol")
    member_of(member, team_a)
    member.current_team = team_a
    member.save()
    client.force_login(member)
    assert 'href="/console/mp/add/"' not in client.get("/console/mp/").content.decode()
    assert client.get("/console/mp/add/").status_code == 403
    assert client.post("/console/mp/add/", form_data(sim_account)).status_code == 403
    assert not OfficialAccount.objects.exists()
