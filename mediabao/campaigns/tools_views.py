"""Console pages around an activity: redemption-code import and the sandbox rehearsal."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mediabao.campaigns import codes, rehearsal
from mediabao.campaigns.forms import CodeImportForm, RehearsalForm
from mediabao.campaigns.models import Activity, Rehearsal
from mediabao.core.tenancy import get_for_team_or_404


@login_required
@require_POST
def codes_import(request: HttpRequest, pk: int) -> HttpResponse:
    """Add pasted or uploaded redemption codes to a tier's pool; the report goes to messages."""
    activity = get_for_team_or_404(Activity, request.team, pk=pk)
    form = CodeImportForm(request.POST, request.FILES, activity=activity)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(f"{_detail(activity)}#codes")
    tier = form.tier_obj()
    try:
        report = codes.import_codes(tier, form.cleaned_data["content"])
    except codes.ImportRefused as exc:
        messages.error(request, str(exc))
        return redirect(f"{_detail(activity)}#codes")
    messages.success(request, _(
        "Tier %(level)d: %(added)d codes added, %(dup)d duplicates skipped, %(blank)d blank lines, "
        "%(bad)d bad lines; %(free)d codes available.") % {
        "level": tier.level, "added": report.added, "dup": report.duplicates, "blank": report.blank,
        "bad": report.bad, "free": report.available})
    if report.served:
        messages.info(request, _("%(n)d waiting prize winners got their codes.") % {"n": report.served})
    for number, value, reason in report.bad_lines:
        messages.warning(request, _("Line %(n)d (%(value)s): %(reason)s")
                         % {"n": number, "value": value, "reason": reason})
    return redirect(f"{_detail(activity)}#codes")


def _detail(activity: Activity) -> str:
    from django.urls import reverse

    return reverse("campaigns:detail", args=[activity.pk])


def _sandbox_only() -> None:
    if not rehearsal.available():
        raise Http404


@login_required
def rehearsal_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The 演练 form and the runs of this activity (sandbox only)."""
    _sandbox_only()
    activity = get_for_team_or_404(Activity, request.team, pk=pk)
    form = RehearsalForm(request.POST or None, activity=activity)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        account = activity.accounts.filter(pk=data["account"]).first()
        if account is None:
            raise Http404
        try:
            run = rehearsal.start(activity, account, rehearsal.Config(
                seeds=data["seeds"], share_rate=data["share_rate"], branching=data["branching"],
                unfollow_rate=data["unfollow_rate"], max_fans=data["max_fans"], duration=data["duration"]),
                user=request.user)
        except rehearsal.RehearsalError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("The rehearsal started: the simulated crowd is joining."))
            return redirect("campaigns:rehearsal_run", pk=activity.pk, run=run.pk)
    runs = Rehearsal.objects.for_team(request.team).filter(activity=activity).select_related("account")[:10]
    return render(request, "campaigns/rehearsal.html", {"activity": activity, "form": form, "runs": runs,
                                                        "running": activity.is_running()})


def _run(request: HttpRequest, pk: int, run: int) -> Rehearsal:
    _sandbox_only()
    return get_for_team_or_404(Rehearsal.objects.select_related("activity", "account"), request.team,
                               pk=run, activity_id=pk)


def _progress_context(run: Rehearsal) -> dict:
    crowd = rehearsal.status(run)
    return {"run": run, "activity": run.activity, "crowd": crowd,
            "live": crowd.get("state") == "running" and not crowd.get("stale"),
            "figures": rehearsal.figures(run.activity, since=run.started_at)}


@login_required
def rehearsal_run(request: HttpRequest, pk: int, run: int) -> HttpResponse:
    obj = _run(request, pk, run)
    return render(request, "campaigns/rehearsal_run.html", _progress_context(obj))


@login_required
def rehearsal_progress(request: HttpRequest, pk: int, run: int) -> HttpResponse:
    """The htmx fragment polled every two seconds while the crowd runs."""
    obj = _run(request, pk, run)
    return render(request, "campaigns/_rehearsal_progress.html", _progress_context(obj))


@login_required
@require_POST
def rehearsal_stop(request: HttpRequest, pk: int, run: int) -> HttpResponse:
    obj = _run(request, pk, run)
    try:
        rehearsal.stop(obj)
    except rehearsal.RehearsalError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The rehearsal was stopped."))
    return redirect("campaigns:rehearsal_run", pk=pk, run=obj.pk)
