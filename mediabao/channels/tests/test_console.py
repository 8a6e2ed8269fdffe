"""Console pages: list, forms, detail, downloads; another team's ids are 404."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from mediabao.channels import services
from mediabao.channels.models import Channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def foreign(other_account):
    return services.create_channel(account=other_account, name="别人的码")


def test_the_list_shows_counts_budget_and_filters(console, account, channel, push, settings):
    settings.CHANNELS_PERMANENT_QR_CAP = 50
    services.create_channel(account=account, name="地铁广告")
    archived = services.set_archived(services.create_channel(account=account, name="旧海报"), True)
    push(account, "o-1", "subscribe", f"qrscene_{channel.scene_str}")
    push(account, "o-2", "subscribe", f"qrscene_{channel.scene_str}")
    push(account, "o-2", "unsubscribe")
    page = console.get(reverse("channels:list")).content.decode()
    assert "门店海报" in page and "地铁广告" in page and "旧海报" not in page
    budget = page.split('id="qr-budget"')[1].split("</section>")[0]
    assert account.name in budget and "3" in budget and "47" in budget
    row = page[page.index("门店海报"):].split("</tr>", 1)[0]
    cells = [c.split(">")[-1] for c in row.split("</td>")[2:5]]
    assert cells == ["2", "1", "1"]  # new, still following, unfollowed
    assert "地铁广告" not in console.get(reverse("channels:list"), {"q": "门店"}).content.decode()
    page = console.get(reverse("channels:list"), {"archived": "1"}).content.decode()
    assert archived.name in page and "门店海报" not in page
    page = console.get(reverse("channels:list"), {"archived": "all", "account": "999999"}).content.decode()
    assert "旧海报" in page  # a bad filter value is ignored, not a 500


def test_the_list_paginates(console, account, owner):
    for i in range(23):
        Channel.objects.create(team=account.team, account=account, name=f"渠道{i:02d}", scene_str=f"ch_t{i}",
                               ticket="t", url="http://weixin.qq.com/q/x")
    first = console.get(reverse("channels:list")).content.decode()
    second = console.get(reverse("channels:list"), {"page": 2}).content.decode()
    assert "1 / 2" in first and first.count("/console/channels/") >= 20
    assert "渠道00" in second and "渠道22" not in second
    assert console.get(reverse("channels:list"), {"page": "abc"}).status_code == 200


def test_create_through_the_console(console, sim, account):
    response = console.post(reverse("channels:create"), {"account": account.pk, "name": "  门店  海报 ",
                                                          "note": "静安"})
    channel = Channel.objects.get()
    assert response.status_code == 302 and response.url == reverse("channels:detail", args=[channel.pk])
    assert channel.name == "门店 海报" and channel.created_by.username == "alice"
    codes = sim._call("GET", f"/accounts/{account.appid}/qrcodes")["qrcodes"]
    assert channel.ticket in {q["ticket"] for q in codes}


@pytest.mark.parametrize("data,field", [
    ({"name": "x"}, "account"),
    ({"account": "", "name": "x"}, "account"),
    ({"account": "abc", "name": "x"}, "account"),
    ({"account": "ACCOUNT", "name": "   "}, "name"),
    ({"account": "ACCOUNT", "name": "x" * 61}, "name"),
    ({"account": "ACCOUNT", "name": "门店海报"}, "name"),  # duplicate active name
    ({"account": "FOREIGN", "name": "x"}, "account"),
])
def test_create_form_errors(console, account, other_account, channel, data, field):
    data = {k: {"ACCOUNT": account.pk, "FOREIGN": other_account.pk}.get(v, v) for k, v in data.items()}
    response = console.post(reverse("channels:create"), data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert 'is-invalid' in response.content.decode()
    assert Channel.objects.filter(team=account.team).count() == 1


def test_create_refuses_clearly_when_the_budget_is_used_up(console, account, channel, settings):
    settings.CHANNELS_PERMANENT_QR_CAP = 1
    response = console.post(reverse("channels:create"), {"account": account.pk, "name": "新的"})
    assert response.status_code == 200
    assert account.name in " ".join(response.context["form"].errors["account"])


def test_edit_and_archive(console, channel):
    url = reverse("channels:edit", args=[channel.pk])
    assert console.post(url, {"name": "", "note": ""}).context["form"].errors["name"]
    assert console.post(url, {"name": "新名字", "note": "备注"}).status_code == 302
    channel.refresh_from_db()
    assert (channel.name, channel.note) == ("新名字", "备注")
    console.post(reverse("channels:archive", args=[channel.pk]), {"archived": "1"})
    channel.refresh_from_db()
    assert channel.archived
    console.post(reverse("channels:archive", args=[channel.pk]), {"archived": "0"})
    channel.refresh_from_db()
    assert not channel.archived
    assert console.get(reverse("channels:archive", args=[channel.pk])).status_code == 405


def test_detail_shows_qr_chart_and_table(console, channel, push, account):
    push(account, "o-1", "subscribe", f"qrscene_{channel.scene_str}")
    response = console.get(reverse("channels:detail", args=[channel.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="qr-preview"' in page and "<svg" in page and "<polyline" in page
    assert "style=" not in page.split('id="stats-chart"')[1].split("</div>")[0]
    today = timezone.localdate()
    assert today.strftime("%Y-%m-%d") in page
    assert f'value="{(today - timedelta(days=29)).isoformat()}"' in page  # the default range
    bad = console.get(reverse("channels:detail", args=[channel.pk]),
                      {"start": "2026-12-01", "end": "2026-01-01"})
    assert bad.status_code == 200 and bad.context["range_form"].errors  # shown, with the default range
    assert bad.context["stats"].end == today


@pytest.mark.parametrize("size", [258, 1280])
def test_png_download(console, channel, size):
    response = console.get(reverse("channels:qr", args=[channel.pk, "png"]), {"size": size})
    assert response["Content-Type"] == "image/png"
    assert "filename*=UTF-8''%E9%97%A8%E5%BA%97%E6%B5%B7%E6%8A%A5-" in response["Content-Disposition"]
    img = Image.open(io.BytesIO(response.content))
    img.verify()
    assert img.size == (size, size)


def test_svg_download_and_inline_preview(console, channel):
    response = console.get(reverse("channels:qr", args=[channel.pk, "svg"]))
    assert response["Content-Type"] == "image/svg+xml" and response.content.lstrip().startswith(b"<?xml")
    assert response["Content-Disposition"].startswith("attachment;")
    inline = console.get(reverse("channels:qr", args=[channel.pk, "svg"]), {"inline": "1"})
    assert "Content-Disposition" not in inline
    assert console.get(reverse("channels:qr", args=[channel.pk, "gif"])).status_code == 404
    odd = console.get(reverse("channels:qr", args=[channel.pk, "png"]), {"size": "999999"})
    assert Image.open(io.BytesIO(odd.content)).size == (430, 430)  # unknown sizes fall back


def test_stats_csv(console, channel, push, account):
    push(account, "o-1", "subscribe", f"qrscene_{channel.scene_str}")
    push(account, "o-2", "subscribe", f"qrscene_{channel.scene_str}")
    push(account, "o-2", "unsubscribe")
    today = timezone.localdate()
    response = console.get(reverse("channels:stats_csv", args=[channel.pk]),
                           {"start": (today - timedelta(days=2)).isoformat(), "end": today.isoformat()})
    assert response["Content-Type"].startswith("text/csv")
    assert ".csv" in response["Content-Disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert len(rows) == 1 + 3 + 1
    assert rows[-2] == [today.isoformat(), "2", "1", "1", "1", "0"]
    assert rows[-1][1:] == ["2", "1", "1", "1", "0"]
    bad = console.get(reverse("channels:stats_csv", args=[channel.pk]), {"start": "nope"})
    assert bad.status_code == 400


def test_another_teams_channel_is_a_404_everywhere(console, foreign):
    for name, args in [("detail", []), ("edit", []), ("stats_csv", []), ("qr", ["png"]), ("qr", ["svg"])]:
        assert console.get(reverse(f"channels:{name}", args=[foreign.pk, *args])).status_code == 404, name
    assert console.post(reverse("channels:archive", args=[foreign.pk])).status_code == 404
    assert console.post(reverse("channels:edit", args=[foreign.pk]), {"name": "x"}).status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "别人的码" and not foreign.archived
    assert "别人的码" not in console.get(reverse("channels:list"), {"archived": "all"}).content.decode()


def test_login_is_required(client, channel):
    response = client.get(reverse("channels:list"))
    assert response.status_code == 302 and "login" in response.url
