"""Console pages of keyword replies (关键词回复)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mediabao.audit import services as audit
from mediabao.core.tenancy import get_for_team_or_404
from mediabao.keywords import services
from mediabao.keywords.forms import KeywordRuleForm
from mediabao.keywords.models import KeywordRule
from mediabao.wechat.models import OfficialAccount


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    rules = KeywordRule.objects.for_team(request.team).select_related("account")
    return render(request, "keywords/rule_list.html", {"rules": rules})


def _edit(request: HttpRequest, rule: KeywordRule | None) -> HttpResponse:
    accounts = OfficialAccount.objects.for_team(request.team)
    form = KeywordRuleForm(request.POST or None, request.FILES or None, instance=rule,
                           accounts=accounts)
    if request.method == "POST" and form.is_valid():
        new = form.save(commit=False)
        new.team = request.team
        try:
            services.save_rule(new, form.cleaned_data.get("image"))
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field, error)
        else:
            messages.success(request, _("Keyword rule saved."))
            return redirect("keywords:list")
    return render(request, "keywords/rule_form.html", {"form": form, "rule": rule})


@login_required
def rule_create(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@login_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_for_team_or_404(KeywordRule, request.team, pk=pk))


@login_required
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_for_team_or_404(KeywordRule, request.team, pk=pk)
    audit.record(request.team, "keyword.deleted", rule)
    rule.delete()
    messages.success(request, _("Keyword rule deleted."))
    return redirect("keywords:list")
