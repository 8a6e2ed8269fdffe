"""Public mobile pages (H5) of 任务宝: the OAuth callback, the poster page, the poster image.

No login: the fan is identified by WeChat OAuth, then by a signed token in the page URL
(so a refresh never reuses the single-use OAuth code).
"""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from mediabao.campaigns import codes, posters_serving, services, tasks
from mediabao.campaigns.forms import AddressForm
from mediabao.campaigns.models import Activity
from mediabao.wechat.errors import WeChatError
from mediabao.wechat.models import OfficialAccount

log = logging.getLogger(__name__)


def _problem(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render(request, "campaigns/h5_problem.html", {"message": message}, status=status)


@never_cache
def oauth_callback(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = Activity.objects.filter(pk=activity_id).first()
    state, code = request.GET.get("state", ""), request.GET.get("code", "")
    account = None
    if activity is not None and state.startswith("a") and state[1:].isdigit():
        account = OfficialAccount.objects.filter(pk=int(state[1:]), team_id=activity.team_id,
                                                 activities=activity).first()
    if activity is None or account is None:
        return _problem(request, _("This link is not valid."), status=404)
    if not code:
        return _problem(request, _("WeChat did not authorize this page. Send the keyword again "
                                   "to get a new link."))
    from mediabao.wechat import oauth

    try:
        result = oauth.exchange_code(account, code)
        profile = oauth.userinfo(result) if result.scope != "snsapi_base" else {}
    except WeChatError as exc:
        log.info("campaign OAuth failed for activity %s: %s", activity.pk, exc)
        return _problem(request, _("This link has expired. Send the keyword “%(keyword)s” again to "
                                   "get a new one.") % {"keyword": activity.join_keyword})
    if not result.openid:
        return _problem(request, _("WeChat did not say who you are. Please try again."))
    try:
        participant = services.join(activity, account, result.openid,
                                    nickname=str(profile.get("nickname") or ""),
                                    avatar_url=str(profile.get("headimgurl") or ""))
    except services.CampaignError as exc:
        return _problem(request, str(exc), status=403)
    try:
        services.ensure_poster(participant)
    except WeChatError as exc:
        log.warning("poster QR code failed for participant %s: %s", participant.pk, exc)
        return _problem(request, _("Your poster could not be made right now. Please try again in "
                                   "a minute."), status=503)
    except Exception:  # renderer refusals (no CJK font, bad background): a page, not a 500
        log.exception("poster rendering failed for participant %s", participant.pk)
        return _problem(request, _("Your poster could not be made right now. Please try again later."),
                        status=503)
    from django.db import transaction

    if participant.following:  # WeChat refuses messages to a fan who does not follow (43004)
        transaction.on_commit(lambda: tasks.send_poster_image.delay(participant.pk), robust=True)
    response = redirect("campaigns_public:h5", token=services.h5_token(participant))
    response.set_signed_cookie(services.owner_cookie_name(participant), participant.openid,
                               salt=services.OWNER_COOKIE_SALT, max_age=services.OWNER_COOKIE_AGE,
                               httponly=True, samesite="Lax", secure=request.is_secure())
    return response


@never_cache
def h5_page(request: HttpRequest, token: str, forms_by_claim: dict | None = None,
            status: int = 200) -> HttpResponse:
    participant = services.participant_from_token(token)
    if participant is None:
        raise Http404
    forms_by_claim = forms_by_claim or {}
    claims = []
    owner = services.is_owner(request, participant)
    for claim in (participant.claims.select_related("tier").order_by("tier__level") if owner else []):
        # A tier with an imported pool hands out its codes (taken now, once); none left: wait.
        claim.shown_code, claim.waiting = codes.code_for(claim)
        form = forms_by_claim.get(claim.pk) or AddressForm(
            initial={"name": claim.name, "phone": claim.phone, "address": claim.address},
            prefix=f"c{claim.pk}")
        claims.append((claim, form))
    activity = participant.activity
    tier_rows = []
    for tier in services.tiers(activity):
        tier_rows.append({"tier": tier, "done": participant.tiers_completed >= tier.level,
                          "left": max(0, tier.invites_needed - participant.invites)})
    upcoming = services.next_tier(activity, participant.invites, participant.tiers_completed)
    return render(request, "campaigns/h5_page.html", {
        "p": participant, "activity": activity, "token": token, "tiers": tier_rows, "next": upcoming,
        "next_left": (upcoming.invites_needed - participant.invites) if upcoming else 0,
        "leaders": services.leaderboard(activity, 10), "rank": services.rank_of(participant),
        "claims": claims, "owner": owner,
        # a current poster is linked by version (cached for good); a stale one without (the
        # image request makes it again, and its answer is revalidated)
        "poster_version": _current_poster_version(participant),
    }, status=status)


def _current_poster_version(participant) -> str:
    try:
        return participant.poster_key if services.poster_is_current(participant) else ""
    except Exception:  # an unreadable layout: the image request answers for it (503)
        log.warning("poster of participant %s not checked", participant.pk, exc_info=True)
        return ""


@require_POST
def claim_address(request: HttpRequest, token: str, claim_id: int) -> HttpResponse:
    """The fan's delivery address for a prize they secured (until it is shipped)."""
    participant = services.participant_from_token(token)
    if participant is None or not services.is_owner(request, participant):
        raise Http404
    claim = participant.claims.filter(pk=claim_id).first()
    if claim is None:
        raise Http404
    form = AddressForm(request.POST, prefix=f"c{claim.pk}")
    if form.is_valid():
        try:
            services.save_address(claim, **form.cleaned_data)
        except services.CampaignError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("campaigns_public:h5", token=token)
    return h5_page(request, token, forms_by_claim={claim.pk: form}, status=400)


@require_safe
def poster_image(request: HttpRequest, token: str) -> HttpResponse:
    """The fan's poster; made again first when stale (see :mod:`posters_serving`)."""
    return posters_serving.serve(request, token)
