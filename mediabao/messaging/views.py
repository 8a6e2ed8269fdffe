"""Console pages of 消息宝: templates, composer with live preview, jobs, SOP schedules."""

from __future__ import annotations

import csv
from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mediabao.core.paging import BoundedPaginator
from mediabao.core.tenancy import get_for_team_or_404
from mediabao.messaging import audience as audiences
from mediabao.messaging import rules, schedules, selectors, services, validation
from mediabao.messaging.forms import (
    ComposeForm,
    DeliverySettingsForm,
    PickForm,
    ScheduleForm,
    upload_choices,
)
from mediabao.messaging.models import DeliverySettings, Recipient, Schedule, SendJob, Template
from mediabao.wechat.errors import WeChatError
from mediabao.wechat.models import OfficialAccount


def _accounts(request):
    return OfficialAccount.objects.for_team(request.team)


# --- templates -----------------------------------------------------------------------------
@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    accounts = list(_accounts(request))
    by_account = defaultdict(list)
    for t in Template.objects.for_team(request.team).filter(removed=False).select_related("account"):
        t.fields_info = [(k, rules.label_of(t.content, k), rules.key_type(k) or "",
                          t.kind == "legacy" and k in rules.HIDDEN_KEYS) for k in t.keys]
        by_account[t.account_id].append(t)
    return render(request, "messaging/template_list.html", {
        "groups": [(a, by_account.get(a.pk, [])) for a in accounts]})


@login_required
@require_POST
def template_sync(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_for_team_or_404(OfficialAccount, request.team, pk=account_id)
    try:
        n = services.sync_templates(account)
    except WeChatError as exc:
        messages.error(request, _("Template sync failed: %(meaning)s") % {"meaning": exc.meaning})
    else:
        messages.success(request, _("%(n)d templates synced for %(name)s.") % {"n": n, "name": account.name})
    return redirect("messaging:templates")


@login_required
def delivery_settings(request: HttpRequest, account_id: int) -> HttpResponse:
    """Per-account engine knobs and the operators' notice template."""
    account = get_for_team_or_404(OfficialAccount, request.team, pk=account_id)
    instance = DeliverySettings.objects.filter(account=account).first() or DeliverySettings(account=account)
    form = DeliverySettingsForm(request.POST or None, instance=instance, account=account)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Delivery settings saved for %(name)s.") % {"name": account.name})
        return redirect("messaging:templates")
    return render(request, "messaging/delivery_settings.html", {"account": account, "form": form})


# --- composer ----------------------------------------------------------------------------------
def _pick(request: HttpRequest):
    """Account, kind and templates chosen in the GET form above the composer."""
    accounts = list(_accounts(request))
    source = request.GET if request.method == "GET" else request.POST
    account = None
    account_id = source.get("account")
    if account_id and account_id.isdigit():
        account = next((a for a in accounts if a.pk == int(account_id)), None)
    account = account or (accounts[0] if accounts else None)
    kind = source.get("kind") if source.get("kind") in SendJob.Kind.values else SendJob.Kind.TEMPLATE
    templates = list(Template.objects.for_team(request.team).filter(account=account, removed=False)) \
        if account else []

    def template_of(name: str) -> Template | None:
        value = source.get(name) or ""
        return next((t for t in templates if str(t.pk) == value), None)

    template = template_of("template")
    fallback = template_of("fallback_template")
    pick = PickForm(initial={"account": account.pk if account else None, "kind": kind,
                             "template": template.pk if template else None,
                             "fallback_template": fallback.pk if fallback else None},
                    accounts=accounts, templates=templates)
    return pick, account, kind, template, fallback


def _compose_form(request, account, kind, template, fallback, data=None, files=None) -> ComposeForm:
    return ComposeForm(data, files, kind=kind, template=template, fallback=fallback,
                       uploads=upload_choices(request.team, account) if account else [])


@login_required
def compose(request: HttpRequest) -> HttpResponse:
    pick, account, kind, template, fallback = _pick(request)
    sop = (request.GET.get("sop") or request.POST.get("sop")) == "1"
    schedule_form = ScheduleForm(request.POST or None) if sop else None
    if request.method == "POST" and account is not None:
        form = _compose_form(request, account, kind, template, fallback, request.POST, request.FILES)
        schedule_ok = schedule_form.is_valid() if schedule_form else True
        if form.is_valid() and schedule_ok:
            result = _submit(request, form, schedule_form, account, kind)
            if result is not None:
                return result
    else:
        form = _compose_form(request, account, kind, template, fallback)
    return render(request, "messaging/compose.html", {
        "pick": pick, "form": form, "account": account, "kind": kind, "template": template,
        "fallback": fallback, "sop": sop, "schedule_form": schedule_form})


def _submit(request, form: ComposeForm, schedule_form, account, kind) -> HttpResponse | None:
    upload_id = None
    image = form.cleaned_data.get("image")
    try:
        if kind == "custom" and form.cleaned_data.get("msgtype") == "image" and image:
            upload_id = services.create_upload(request.team, account, image.name, image.read()).pk
        payload = {"message": form.message_payload(upload_id), "audience": form.audience_payload(),
                   "fallback": form.fallback_payload()}
        if schedule_form is not None:
            s = schedule_form.cleaned_data
            schedules.save_schedule(team=request.team, user=request.user, account=account,
                                    name=form.cleaned_data.get("name") or _("Scheduled message"),
                                    kind=kind, recurrence=s["recurrence"], run_at=s["run_at"],
                                    weekdays=s.get("weekdays") or [], cron=s.get("cron") or "",
                                    **payload)
            messages.success(request, _("The scheduled message was saved."))
            return redirect("messaging:schedules")
        job, warnings = services.create_job(
            team=request.team, user=request.user, account=account, kind=kind,
            name=form.cleaned_data.get("name") or "", send_at=form.cleaned_data.get("send_at"),
            **payload)
    except validation.Invalid as exc:
        form.add_service_errors(exc.fields)
        if schedule_form is not None:
            for key in ("run_at", "weekdays", "cron"):
                for msg in exc.fields.get(key, []):
                    schedule_form.add_error(key, msg)
        return None
    for warning in warnings:
        messages.warning(request, warning)
    messages.success(request, _("The send job was created."))
    return redirect("messaging:job", pk=job.pk)


@login_required
@require_POST
def preview(request: HttpRequest) -> HttpResponse:
    """The composer's live preview (htmx): what the fan sees, warnings, blocking errors."""
    _pick_form, account, kind, template, fallback = _pick(request)
    form = _compose_form(request, account, kind, template, fallback, request.POST)
    form.is_valid()
    context: dict = {"kind": kind}
    if kind == "template" and template is not None:
        result = rules.check(template.content, template.kind, form._data("f", template))
        context.update(title=template.title, lines=result.lines, warnings=result.warnings,
                       errors=[f"{k}: {m}" for k, msgs in result.errors.items() for m in msgs],
                       url=form.cleaned_data.get("url") or "",
                       mini=form.cleaned_data.get("mini_appid") or "")
    elif kind == "custom" and account is not None:
        try:
            checked = validation.custom_message(request.team, account, form.message_payload(
                form.cleaned_data.get("upload")))
            context.update(custom=checked.value, errors=[])
        except validation.Invalid as exc:
            image = form.cleaned_data.get("msgtype") == "image"
            context.update(custom=None, errors=[f"{k}: {v}" for k, v in exc.fields.items()
                                                if k != "upload" or image])
    return render(request, "messaging/_preview.html", context)


@login_required
@require_POST
def audience_size(request: HttpRequest) -> HttpResponse:
    """How many fans the chosen audience reaches right now (htmx)."""
    _pick_form, account, kind, template, fallback = _pick(request)
    form = _compose_form(request, account, kind, template, fallback, request.POST)
    form.is_valid()
    context: dict = {"kind": kind}
    if account is not None:
        try:
            checked = validation.audience(request.team, account, form.audience_payload())
            context["size"] = audiences.size(checked.value, account.pk, kind)
            context["warnings"] = checked.warnings
        except validation.Invalid as exc:
            aud = exc.fields.get("audience", {})
            context["errors"] = [m for k, v in (aud.items() if isinstance(aud, dict) else [])
                                 if k != "bad_lines" for m in v]
    return render(request, "messaging/_audience_size.html", context)


# --- jobs --------------------------------------------------------------------------------------
@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    page = Paginator(selectors.jobs(request.team, state=state), 25).get_page(request.GET.get("page"))
    return render(request, "messaging/job_list.html", {
        "page": page, "state": state, "states": SendJob.State.choices})


@login_required
def job_row(request: HttpRequest, pk: int) -> HttpResponse:
    jobs = SendJob.objects.select_related("account", "created_by")
    job = get_for_team_or_404(jobs, request.team, pk=pk)
    return render(request, "messaging/_job_row.html", {"job": job})


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_for_team_or_404(SendJob.objects.select_related("account", "created_by"), request.team, pk=pk)
    state = request.GET.get("state", "")
    page = BoundedPaginator(selectors.recipients(job, state=state, q=request.GET.get("q", "")), 50) \
        .get_page(request.GET.get("page"))
    return render(request, "messaging/job_detail.html", {
        "job": job, "page": page, "state": state, "states": Recipient.State.choices,
        "groups": selectors.error_groups(job), "delivery": selectors.delivery_counts(job)})


@login_required
def job_progress(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_for_team_or_404(SendJob, request.team, pk=pk)
    response = render(request, "messaging/_job_progress.html", {"job": job})
    if getattr(request, "htmx", False) and job.state not in (SendJob.State.RUNNING,
                                                             SendJob.State.SCHEDULED):
        # The job stopped while the page polled: reload it (recipients, buttons, errors).
        response["HX-Refresh"] = "true"
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def job_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    job = get_for_team_or_404(SendJob, request.team, pk=pk)
    queryset = selectors.recipients(job, state=request.GET.get("state", ""))
    writer = csv.writer(_Echo())
    header = [_("OpenID"), _("State"), _("Channel"), _("Reason"), _("MsgID"), _("errcode"),
              _("errmsg"), _("Delivery"), _("Attempts"), _("Updated")]

    def rows():
        yield "\ufeff" + writer.writerow(header)
        for r in queryset.iterator(chunk_size=5000):
            yield writer.writerow([r.openid, r.state, r.channel, r.reason, r.msgid,
                                   "" if r.errcode is None else r.errcode, r.errmsg, r.delivery,
                                   r.attempts, r.updated_at.isoformat()])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-recipients.csv"'
    return response


@login_required
@require_POST
def job_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    job = get_for_team_or_404(SendJob, request.team, pk=pk)
    if action == "retry":
        new = services.retry_failed(job, request.user)
        if new is None:
            messages.info(request, _("No failed recipients to retry."))
            return redirect("messaging:job", pk=job.pk)
        messages.success(request, _("A new job sends to the %(n)d failed recipients.") % {"n": new.total})
        return redirect("messaging:job", pk=new.pk)
    func = {"pause": services.pause_job, "resume": services.resume_job,
            "cancel": services.cancel_job}.get(action)
    if func is None or not func(job):
        messages.error(request, _("Not possible in state “%(state)s”.") % {"state": job.get_state_display()})
    return redirect("messaging:job", pk=job.pk)


# --- SOP schedules -------------------------------------------------------------------------
@login_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    items = list(Schedule.objects.for_team(request.team).select_related("account"))
    horizon = timezone.now() + timezone.timedelta(days=30)
    calendar: dict = defaultdict(list)
    for s in items:
        s.upcoming = schedules.next_runs(s, 40)
        for at in s.upcoming:
            if at <= horizon:
                calendar[timezone.localtime(at).date()].append((timezone.localtime(at), s))
    days = [(day, sorted(entries, key=lambda e: e[0])) for day, entries in sorted(calendar.items())]
    return render(request, "messaging/schedule_list.html", {"schedules": items, "days": days})


@login_required
def schedule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_for_team_or_404(Schedule, request.team, pk=pk)
    form = ScheduleForm(request.POST or None, initial={
        "recurrence": schedule.recurrence, "run_at": timezone.localtime(schedule.run_at),
        "weekdays": schedule.weekdays, "cron": schedule.cron})
    if request.method == "POST" and form.is_valid():
        try:
            schedules.save_schedule(team=request.team, user=request.user, account=schedule.account,
                                    instance=schedule, **form.cleaned_data)
        except validation.Invalid as exc:
            for key, msgs in exc.fields.items():
                for msg in msgs if isinstance(msgs, list) else [msgs]:
                    form.add_error(key if key in form.fields else None, str(msg))
        else:
            messages.success(request, _("The scheduled message was saved."))
            return redirect("messaging:schedules")
    return render(request, "messaging/schedule_edit.html", {"schedule": schedule, "form": form})


@login_required
@require_POST
def schedule_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_for_team_or_404(Schedule, request.team, pk=pk)
    schedules.cancel(schedule)
    messages.success(request, _("“%(name)s” will not be sent.") % {"name": schedule.name})
    return redirect(reverse("messaging:schedules"))
