"""Imported redemption-code pools: parsing and limits, the console import, winners taking
codes (never the same twice, also under concurrency), running out, and the API."""

from __future__ import annotations

import contextlib
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import close_old_connections, connection

from mediabao.campaigns import codes, services
from mediabao.campaigns.models import Notice, RewardClaim, RewardCode


def _winners(make_activity, acct, n: int, tiers=((1, "优惠券", None),)):
    """An activity whose first tier needs one invite, and ``n`` participants who reached it."""
    activity = make_activity(tiers=tiers)
    people = []
    for i in range(n):
        p = services.join(activity, acct, f"seed{i}", nickname=f"种子{i}")
        assert services.record_assist(acct, f"friend{i}", p.scene, new_fan=True).counted
        people.append(p)
    return activity, people


def _h5(client, p) -> str:
    client.cookies[services.owner_cookie_name(p)] = services.owner_cookie_value(p)
    return client.get(f"/c/me/{services.h5_token(p)}/").content.decode()


def test_parse_dedupes_and_reports_blank_and_bad_lines():
    text = "\ufeffAAA-1\n\nBBB-2,extra column\nAAA-1\n  \nhas space\n" + "X" * 65 + "\nCCC-3\r\n"
    found, report = codes.parse(text)
    assert found == ["AAA-1", "BBB-2", "CCC-3"]
    assert (report.blank, report.duplicates, report.bad) == (2, 1, 2)
    assert [line for line, _v, _r in report.bad_lines] == [6, 7]


def test_files_are_text_within_limits():
    assert codes.decode("券码一\n".encode("gb18030")) == "券码一\n"
    assert codes.decode("\ufeffA1\n".encode()) == "A1\n"
    with pytest.raises(codes.ImportRefused):
        codes.decode(b"\x89PNG\x00\x00\x00binary")
    with pytest.raises(codes.ImportRefused):
        codes.decode(b"A" * (codes.MAX_IMPORT_BYTES + 1))
    with pytest.raises(codes.ImportRefused):
        codes.parse("\n".join(f"C{n}" for n in range(codes.MAX_IMPORT_CODES + 1)))


@pytest.fixture
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.mark.django_db
def test_winners_take_pool_codes_and_wait_when_they_run_out(client, console, make_activity, acct, english):
    activity, (a, b, c) = _winners(make_activity, acct, 3)
    tier = activity.tiers.get(level=1)
    response = console.post(f"/console/campaigns/{activity.pk}/codes/", {
        "tier": tier.pk, "text": "POOL-1\nPOOL-2\nPOOL-1\n\nbad code\n"}, follow=True)
    said = [str(m) for m in response.context["messages"]]
    assert said[0] == ("Tier 1: 2 codes added, 1 duplicates skipped, 1 blank lines, 1 bad lines; "
                       "0 codes available.")
    assert "2 waiting prize winners got their codes." in said
    assert any(m.startswith("Line 5 (bad code)") for m in said)
    assert RewardCode.objects.filter(tier=tier).count() == 2
    # The import served the two oldest winners at once and told them their code.
    claims = {cl.participant_id: cl for cl in RewardClaim.objects.filter(tier=tier)}
    assert {claims[a.pk].code, claims[b.pk].code} == {"POOL-1", "POOL-2"}
    assert Notice.objects.filter(key__startswith="code:").count() == 2
    assert "POOL-" in _h5(client, a)
    third = _h5(client, c)
    assert 'class="small text-warning out-of-codes"' in third and claims[c.pk].code not in third
    detail = console.get(f"/console/campaigns/{activity.pk}/").content.decode()
    assert "out-of-codes" in detail and "waiting-code" in detail
    # More codes: the waiting winner gets one; nobody gets a code twice.
    upload = SimpleUploadedFile("codes.csv", b"POOL-2,dup\nPOOL-3,new\n", content_type="text/csv")
    console.post(f"/console/campaigns/{activity.pk}/codes/", {"tier": tier.pk, "file": upload})
    assert "POOL-3" in _h5(client, c)
    assert sorted(RewardClaim.objects.filter(tier=tier).values_list("code", flat=True)) == [
        "POOL-1", "POOL-2", "POOL-3"]
    csv_text = console.get(f"/console/campaigns/{activity.pk}/rewards.csv").content.decode("utf-8-sig")
    assert "POOL-3" in csv_text
    assert "out-of-codes" not in console.get(f"/console/campaigns/{activity.pk}/").content.decode()


@pytest.mark.django_db
def test_a_winner_after_the_import_takes_a_code_on_their_page(client, make_activity, acct):
    activity, (a,) = _winners(make_activity, acct, 1, tiers=((1, "券", None), (2, "大奖", None)))
    tier2 = activity.tiers.get(level=2)
    codes.import_codes(tier2, "BIG-1\nBIG-2\n")
    services.record_assist(acct, "late-friend", a.scene, new_fan=True)
    claim = RewardClaim.objects.get(tier=tier2, participant=a)
    assert not claim.code_from_pool  # made by the assist path with a generated code
    page = _h5(client, a)
    assert "BIG-1" in page and claim.code not in page
    assert _h5(client, a).count("BIG-") == 1  # the same code on every visit
    assert codes.free_codes(tier2) == 1


@pytest.mark.django_db
def test_console_import_refuses_empty_and_oversized(console, make_activity, acct, english):
    activity = make_activity()
    tier = activity.tiers.get()
    response = console.post(f"/console/campaigns/{activity.pk}/codes/", {"tier": tier.pk, "text": " \n"},
                            follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Paste some codes or choose a file."]
    big = SimpleUploadedFile("c.txt", b"A\n" * (codes.MAX_IMPORT_BYTES // 2 + 1))
    response = console.post(f"/console/campaigns/{activity.pk}/codes/", {"tier": tier.pk, "file": big},
                            follow=True)
    assert [str(m) for m in response.context["messages"]] == ["The file is larger than 2 MB."]
    assert not RewardCode.objects.exists()


@pytest.mark.django_db
def test_another_teams_activity_is_a_404(console, make_activity, team_b):
    from mediabao.wechat.models import OfficialAccount

    other = OfficialAccount.objects.create(team=team_b, appid="wxcodes0000000009", name="别家",
                                           appsecret="s" * 32)
    activity = make_activity(team=team_b, accounts=[other], keyword="别")
    tier = activity.tiers.get()
    response = console.post(f"/console/campaigns/{activity.pk}/codes/", {"tier": tier.pk, "text": "A"})
    assert response.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_share_a_code(make_activity, acct):
    activity = make_activity(tiers=((1, "券", None),))
    tier = activity.tiers.get()
    RewardCode.objects.bulk_create([RewardCode(team_id=tier.team_id, tier=tier, code=f"K{n}")
                                    for n in range(20)])
    claims = []
    for n in range(30):
        p = services.join(activity, acct, f"c{n}")
        claims.append(RewardClaim.objects.create(team_id=tier.team_id, tier=tier, participant=p, code="GEN"))
    work = claims + claims[:10]  # ten claims asked for twice at once
    results: dict[int, list] = {}
    barrier = threading.Barrier(8)

    def worker(offset: int) -> None:
        try:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)
            for claim in work[offset::8]:
                results.setdefault(claim.pk, []).append(codes.take(RewardClaim.objects.get(pk=claim.pk)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    close_old_connections()
    given = [c for got in results.values() for c in set(got) if c]
    assert len(given) == 20 and len(set(given)) == 20
    assert all(len(set(got)) == 1 for got in results.values())  # a claim asked twice: one code
    assert RewardCode.objects.filter(claim__isnull=True).count() == 0
    assert RewardClaim.objects.filter(code_from_pool=True).count() == 20


@pytest.mark.django_db
def test_api_imports_lists_and_hides_codes_of_waiting_claims(api, make_activity, acct, team_b):
    activity, (a, b) = _winners(make_activity, acct, 2)
    tier = activity.tiers.get()
    created = api.post("/api/v1/reward-codes/", {"tier": tier.pk, "codes": ["API-1", "API-1", " "]},
                       format="json")
    assert created.status_code == 201, created.content
    report = created.json()
    assert (report["added"], report["duplicates"], report["served"]) == (1, 1, 1)
    pools = api.get(f"/api/v1/reward-codes/?activity={activity.pk}").json()
    assert pools == [{"tier": tier.pk, "level": 1, "prize": "优惠券", "imported": 1, "available": 0,
                      "waiting": 1}]
    shown = {c["participant"]: c["code"] for c in api.get(f"/api/v1/reward-claims/?activity={activity.pk}")
             .json()["results"]}
    assert sorted(shown.values()) == ["", "API-1"]
    upload = SimpleUploadedFile("c.txt", b"API-2\n")
    assert api.post("/api/v1/reward-codes/", {"tier": tier.pk, "file": upload},
                    format="multipart").json()["served"] == 1
    assert api.post("/api/v1/reward-codes/", {"tier": tier.pk, "codes": 5}, format="json").status_code == 400
    assert api.post("/api/v1/reward-codes/", {"tier": tier.pk, "codes": ""}, format="json").status_code == 400
    assert api.get("/api/v1/reward-codes/?activity=x").status_code == 400
    from mediabao.wechat.models import OfficialAccount

    other = OfficialAccount.objects.create(team=team_b, appid="wxcodes0000000008", name="别家",
                                           appsecret="s" * 32)
    foreign = make_activity(team=team_b, accounts=[other], keyword="别")
    assert api.post("/api/v1/reward-codes/", {"tier": foreign.tiers.get().pk, "codes": "Z"},
                    format="json").status_code == 404
    assert api.get(f"/api/v1/reward-codes/?activity={foreign.pk}").status_code == 404
