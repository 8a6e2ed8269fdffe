"""Console pages of 任务宝: activities (list, create, edit, detail) and participants."""

from __future__ import annotations

import csv
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, F, Func, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mediabao.audit import services as audit
from mediabao.campaigns import services
from mediabao.campaigns import stats as campaign_stats
from mediabao.campaigns.forms import (
    LAYOUT_FIELDS,
    MAX_TIERS,
    NOTICE_FIELDS,
    ActivityFilterForm,
    ActivityForm,
    ParticipantFilterForm,
    participant_rows,
)
from mediabao.campaigns.models import Activity, Assist, Notice, Participant, RewardClaim
from mediabao.core.paging import BoundedPaginator
from mediabao.core.tenancy import get_for_team_or_404

PAGE_SIZE = 20
TREE_LIMIT = 500
#: What a row of the invite tree shows (and the walk needs).
TREE_FIELDS = ("id", "inviter_id", "nickname", "openid", "level", "invites", "following", "created_at")


def _query(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@login_required
def activity_list(request: HttpRequest) -> HttpResponse:
    form = ActivityFilterForm(request.GET or None, team=request.team)
    # One count subquery per column: joining participants and assists in one GROUP BY
    # multiplies them (100,000 x 100,000 rows for one large activity).
    queryset = form.filter(Activity.objects.for_team(request.team)).annotate(
        n_participants=_count(Participant.objects.filter(activity=OuterRef("pk"), joined=True)),
        n_assists=_count(Assist.objects.filter(activity=OuterRef("pk"), counted=True)),
    ).prefetch_related("accounts").order_by("-start_time", "-id")
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "campaigns/activity_list.html",
                  {"form": form, "page": page, "query": _query(request)})


def _count(queryset) -> Coalesce:
    """A correlated ``(SELECT count(*) …)`` of ``queryset`` as an annotation (0 when none)."""
    counted = queryset.order_by().annotate(n=Func(F("id"), function="COUNT")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _form_context(form: ActivityForm, **extra) -> dict:
    tiers = [[form[f"tier{n}_{k}"] for k in ("invites", "prize", "stock")] for n in range(1, MAX_TIERS + 1)]
    return {"form": form, "tier_fields": tiers, "layout_fields": [form[f"layout_{n}"] for n in LAYOUT_FIELDS],
            "notice_fields": [form[n] for n in NOTICE_FIELDS],
            "placeholders": ", ".join(f"{{{p}}}" for p in services.PLACEHOLDERS), **extra}


@login_required
def activity_create(request: HttpRequest) -> HttpResponse:
    form = ActivityForm(request.POST or None, request.FILES or None, team=request.team)
    if request.method == "POST" and form.is_valid():
        form.instance.created_by = request.user
        activity = form.save()
        audit.record(request.team, "activity.created", activity)
        messages.success(request, _("Activity “%(name)s” created.") % {"name": activity.name})
        return redirect("campaigns:detail", pk=activity.pk)
    return render(request, "campaigns/activity_form.html", _form_context(form, creating=True))


@login_required
def activity_edit(request: HttpRequest, pk: int) -> HttpResponse:
    activity = get_for_team_or_404(Activity, request.team, pk=pk)
    form = ActivityForm(request.POST or None, request.FILES or None, instance=activity, team=request.team)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit.record(request.team, "activity.changed", activity, details={"fields": form.changed_data[:20]})
        messages.success(request, _("Activity “%(name)s” saved.") % {"name": activity.name})
        return redirect("campaigns:detail", pk=activity.pk)
    return render(request, "campaigns/activity_form.html", _form_context(form, activity=activity))


@login_required
def activity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    activity = get_for_team_or_404(Activity, request.team, pk=pk)
    # one scan per table instead of one count(*) per figure (participants: with the levels)
    level_rows, joined, flagged = campaign_stats.participant_figures(activity)
    stats = {
        "joined": joined, "flagged": flagged,
        **activity.assists.aggregate(assists=Count("id", filter=Q(counted=True)),
                                     unfollowed=Count("id", filter=Q(unfollowed_at__isnull=False))),
        "notices": Notice.objects.filter(participant__activity=activity).count(),
    }
    levels = services.tiers(activity)
    return render(request, "campaigns/activity_detail.html", {
        "activity": activity, "tiers": levels, "stats": stats,
        "leaders": services.leaderboard(activity, 20), "accounts": activity.accounts.all(),
        "claims": RewardClaim.objects.filter(tier__activity=activity)
                  .select_related("tier", "participant").order_by("shipped", "-created_at")[:200],
        "daily": campaign_stats.daily(activity), "levels": level_rows,
        **_tools_context(activity, levels),
    })


def _tools_context(activity: Activity, levels: list) -> dict:
    """Code pools (import form, waiting claims) and whether a rehearsal can run."""
    from mediabao.campaigns import codes, rehearsal
    from mediabao.campaigns.forms import CodeImportForm

    pools = codes.pools(activity, levels)
    return {"pools": pools, "pool_tiers": {p.tier.pk for p in pools if p.total},
            "code_form": CodeImportForm(activity=activity, tiers=levels), "sandbox": rehearsal.available()}


@login_required
def activity_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """A sample poster with the saved background and layout (placeholder avatar, sample QR)."""
    from mediabao.campaigns.fonts import PosterFontMissing
    from mediabao.campaigns.posters import render_poster

    activity = get_for_team_or_404(Activity, request.team, pk=pk)
    try:
        with activity.poster_background.open("rb") as handle:
            jpeg = render_poster(handle.read(), avatar=None, nickname=_("Sample nickname"),
                                 qr_url="http://weixin.qq.com/q/preview",
                                 layout=services.layout_for(activity))
    except (PosterFontMissing, ValidationError, OSError) as exc:
        return HttpResponse(str(getattr(exc, "message", exc)), status=503,
                            content_type="text/plain; charset=utf-8")
    response = HttpResponse(jpeg, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-cache"
    return response


@login_required
@require_POST
def reward_shipped(request: HttpRequest, pk: int) -> HttpResponse:
    claim = get_for_team_or_404(RewardClaim.objects.select_related("tier"), request.team, pk=pk)
    services.mark_shipped(claim, request.POST.get("shipped", "1") == "1")
    messages.success(request, _("Prize status saved."))
    return redirect("campaigns:detail", pk=claim.tier.activity_id)


@login_required
def rewards_csv(request: HttpRequest, pk: int) -> HttpResponse:
    activity = get_for_team_or_404(Activity, request.team, pk=pk)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([_("Tier"), _("Prize"), "OpenID", _("Nickname"), _("Redemption code"), _("Recipient"),
                     _("Phone"), _("Address"), _("Shipped"), _("Created")])
    claims = RewardClaim.objects.filter(tier__activity=activity).select_related("tier", "participant")
    from mediabao.campaigns import codes

    pool_tiers = codes.pool_tier_ids(activity.tiers.values_list("pk", flat=True))
    for c in claims.order_by("tier__level", "created_at"):
        writer.writerow([c.tier.level, c.tier.prize, c.participant.openid, _safe_cell(c.participant.nickname),
                         codes.shown(c, pool_tiers), _safe_cell(c.name), _safe_cell(c.phone),
                         _safe_cell(c.address),
                         int(c.shipped), c.created_at.isoformat()])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="rewards-{activity.pk}.csv"'
    return response


def _participants(request: HttpRequest) -> tuple[ParticipantFilterForm, object]:
    form = ParticipantFilterForm(request.GET or None, team=request.team)
    return form, participant_rows(form.filter(Participant.objects.for_team(request.team)))


@login_required
def participant_list(request: HttpRequest) -> HttpResponse:
    form, queryset = _participants(request)
    if not (form.is_bound and form.is_valid() and form.cleaned_data.get("activity")):
        # Across activities, newest first (participant_team_recent): ranking by invites
        # sorts every participant of the team; one activity's ranking has its own index.
        queryset = queryset.order_by("-created_at", "-id")
    page = BoundedPaginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "campaigns/participant_list.html",
                  {"form": form, "page": page, "query": _query(request)})


@login_required
def participant_csv(request: HttpRequest) -> HttpResponse:
    _form, queryset = _participants(request)
    out = io.StringIO()
    out.write("\ufeff")  # Excel opens UTF-8 Chinese correctly with a BOM
    writer = csv.writer(out)
    writer.writerow([_("Activity"), _("Official account"), "OpenID", _("Nickname"), _("Invited by"),
                     _("Fission level"), _("Invites"), _("Tiers completed"), _("Following"),
                     _("Joined"), _("Blacklisted"), _("Flagged"), _("Created")])
    for p in queryset.iterator(chunk_size=2000):
        writer.writerow([p.activity.name, p.account.name, p.openid, _safe_cell(p.nickname),
                         p.inviter.openid if p.inviter else "", p.level, p.invites, p.tiers_completed,
                         int(p.following), int(p.joined), int(p.blacklisted), int(p.flagged),
                         p.created_at.isoformat()])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="participants.csv"'
    return response


def _safe_cell(value: str) -> str:
    """Nicknames are fan-controlled: keep spreadsheets from running them as formulas."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


@login_required
def participant_detail(request: HttpRequest, pk: int) -> HttpResponse:
    participant = get_for_team_or_404(Participant.objects.select_related("activity", "account", "inviter"),
                                      request.team, pk=pk)
    tree = invite_tree(participant)
    assists = (Assist.objects.filter(inviter=participant).order_by("-created_at")
               .only("fan_openid", "created_at", "counted", "unfollowed_at")[:200])
    notices = participant.notices.order_by("-created_at")[:50]
    return render(request, "campaigns/participant_detail.html", {
        "p": participant, "tree": tree, "assists": assists, "notices": notices,
        "chain": _chain(participant),
    })


def _chain(participant: Participant) -> list[Participant]:
    """Who invited whom up to the seed (bounded, cycles cannot loop)."""
    chain, seen, current = [], {participant.pk}, participant.inviter
    while current is not None and current.pk not in seen and len(chain) < 50:
        chain.append(current)
        seen.add(current.pk)
        current = current.inviter
    return list(reversed(chain))


def invite_tree(root: Participant) -> list[tuple[int, Participant]]:
    """(depth, participant) rows below ``root`` in display order, breadth-limited."""
    rows: list[tuple[int, Participant]] = []
    children: dict[int, list[Participant]] = {}
    frontier, seen, depth = [root.pk], {root.pk}, 0
    while frontier and len(seen) < TREE_LIMIT and depth < 20:
        depth += 1
        found = list(Participant.objects.filter(inviter_id__in=frontier).order_by("created_at", "id")
                     .only(*TREE_FIELDS)[:TREE_LIMIT])
        frontier = []
        for p in found:
            if p.pk in seen:
                continue
            seen.add(p.pk)
            children.setdefault(p.inviter_id, []).append(p)
            frontier.append(p.pk)

    def walk(pk: int, level: int) -> None:
        for child in children.get(pk, []):
            rows.append((level, child))
            walk(child.pk, level + 1)

    walk(root.pk, 1)
    return rows


@login_required
@require_POST
def participant_reviewed(request: HttpRequest, pk: int) -> HttpResponse:
    """The operator looked at a flagged participant and keeps them (the flag goes)."""
    participant = get_for_team_or_404(Participant, request.team, pk=pk)
    Participant.objects.filter(pk=participant.pk).update(flagged=False)
    messages.success(request, _("%(name)s was reviewed.") % {"name": participant})
    return redirect("campaigns:participant", pk=participant.pk)


@login_required
@require_POST
def participant_blacklist(request: HttpRequest, pk: int) -> HttpResponse:
    participant = get_for_team_or_404(Participant, request.team, pk=pk)
    value = request.POST.get("blacklisted") == "1"
    services.set_blacklisted(participant, value)
    text = _("%(name)s is blacklisted.") if value else _("%(name)s is no longer blacklisted.")
    messages.success(request, text % {"name": participant})
    return redirect("campaigns:participant", pk=participant.pk)
