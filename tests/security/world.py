"""A team with one real object of every kind the API serves, for the security sweeps."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from mediabao.accounts import services as accounts
from mediabao.accounts.models import Team, User
from mediabao.audit.models import AuditEntry
from mediabao.campaigns.forms import save_tiers
from mediabao.campaigns.models import Activity, Participant, RewardClaim
from mediabao.channels import services as channels
from mediabao.fans.models import Fan, FanSync
from mediabao.keywords.models import KeywordRule
from mediabao.messaging import services as messaging
from mediabao.messaging.models import Schedule, SendJob, Template
from mediabao.wechat.models import Event, OfficialAccount

_RESOURCE = re.compile(r"^/api/v1/([^/{]+)/")
LEGACY = "{{first.DATA}}\n订单号：{{keyword1.DATA}}\n{{remark.DATA}}"


def png(width: int = 750, height: int = 1334) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (240, 200, 120)).save(buf, "PNG")
    return buf.getvalue()


@dataclass
class World:
    """Object ids by router basename (``fan``, ``channel``...), plus the team and its owner."""

    team: Team
    owner: User
    account: OfficialAccount
    ids: dict[str, int] = field(default_factory=dict)


def build(team: Team, owner: User, sim, tag: str) -> World:
    """One of each: account (in wxsim), fans, keyword rule, channel, activity with a
    participant and a prize claim, template, upload, send job, schedule, fan sync,
    invitation, API token, audit entry."""
    mp = sim.create_account(name=f"{tag}号", encrypt_mode="safe")
    account = OfficialAccount.objects.create(
        team=team, appid=mp["appid"], name=mp["name"], original_id=mp["original_id"],
        appsecret=mp["secret"], callback_token=mp["token"], encoding_aes_key=mp["encoding_aes_key"])
    openids = sim.create_fans(account.appid, 3)
    fans = Fan.objects.bulk_create([Fan(team=team, account=account, openid=o, subscribed=True,
                                        nickname=f"{tag}粉丝{n}") for n, o in enumerate(openids)])
    Event.objects.create(team=team, account=account, openid=openids[0], msg_type="event",
                         event="subscribe", dedup_key=f"{tag}-1")
    rule = KeywordRule.objects.create(team=team, account=account, keyword=f"{tag}价格", text="99元")
    channel = channels.create_channel(account=account, name=f"{tag}门店", user=owner)
    now = timezone.now()
    activity = Activity(team=team, name=f"{tag}裂变", start_time=now - timedelta(hours=1),
                        end_time=now + timedelta(days=7), join_keyword=f"{tag}海报", rules="邀请好友")
    activity.poster_background.save("bg.png", SimpleUploadedFile("bg.png", png(), "image/png"), save=False)
    activity.save()
    activity.accounts.set([account])
    save_tiers(activity, [(1, 1, "笔记本", 10)])
    participant = Participant.objects.create(team=team, activity=activity, account=account,
                                             openid=openids[0], joined=True, invites=1)
    claim = RewardClaim.objects.create(team=team, tier=activity.tiers.get(), participant=participant,
                                       code="CODE1")
    sim.create_template(account.appid, "订单状态通知", LEGACY)
    messaging.sync_templates(account)
    template = Template.objects.for_team(team).get(account=account)
    upload = messaging.create_upload(team, account, "a.png", png(60, 60))
    job = SendJob.objects.create(team=team, account=account, kind=SendJob.Kind.CUSTOM, name=f"{tag}群发",
                                 message={"type": "text", "text": "hi"}, audience={"type": "all"},
                                 state=SendJob.State.PAUSED, created_by=owner)
    schedule = Schedule.objects.create(team=team, account=account, name=f"{tag}早报", kind="template",
                                       message={"template": template.pk, "data": {"keyword1": "A"}},
                                       audience={"type": "window"}, run_at=now + timedelta(days=1))
    sync = FanSync.objects.create(team=team, account=account, state=FanSync.State.DONE, generation=1)
    invitation = accounts.create_invitation(team=team, by=owner).invitation
    token = accounts.create_api_token(user=owner, team=team, name=f"{tag} script").token
    entry = AuditEntry.objects.for_team(team).first()
    membership = owner.memberships.get(team=team)
    ids = {"team": team.pk, "account": account.pk, "fan": fans[0].pk, "fan-sync": sync.pk,
           "keyword-rule": rule.pk, "channel": channel.pk, "activity": activity.pk,
           "participant": participant.pk, "reward-claim": claim.pk, "message-template": template.pk,
           "message-upload": upload.pk, "message-job": job.pk, "message-schedule": schedule.pk,
           "invitation": invitation.pk, "token": token.pk, "audit-entry": entry.pk,
           "member": membership.pk, "tier": activity.tiers.get().pk}
    return World(team=team, owner=owner, account=account, ids=ids)


def basename(path: str) -> str:
    """The router basename of an API path (``/api/v1/fan-syncs/{id}/`` -> ``fan-sync``)."""
    from mediabao.api_urls import router

    match = _RESOURCE.match(path)
    prefixes = {prefix: name for prefix, _viewset, name in router.registry}
    return prefixes.get(match.group(1), "") if match else ""
