"""Channel forms: shared by the console and the API, so both validate the same way."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from mediabao.channels import qr
from mediabao.channels.models import Channel
from mediabao.channels.selectors import MAX_RANGE_DAYS, ChannelFilter, default_range
from mediabao.core.forms import BootstrapMixin

_ARCHIVED = [("0", _("Active")), ("1", _("Archived")), ("all", _("All"))]


def _clean_name(value: str, *, team, account_id: int | None, exclude_pk: int | None = None) -> str:
    name = " ".join((value or "").split())
    if not name:
        raise forms.ValidationError(_("Enter a name."), code="required")
    if account_id:
        clash = Channel.objects.for_team(team).filter(account_id=account_id, name__iexact=name,
                                                      archived=False)
        if exclude_pk:
            clash = clash.exclude(pk=exclude_pk)
        if clash.exists():
            raise forms.ValidationError(
                _("This account already has an active promo code named “%(name)s”."),
                code="duplicate", params={"name": name})
    return name


class ChannelCreateForm(BootstrapMixin, forms.Form):
    account = forms.TypedChoiceField(label=_("Official account"), coerce=int, empty_value=None,
                                     help_text=_("The code belongs to this account for good: "
                                                 "it cannot be moved later."))
    name = forms.CharField(label=_("Name"), max_length=60,
                           widget=forms.TextInput(attrs={"placeholder": _("e.g. Store poster, Shanghai")}))
    note = forms.CharField(label=_("Note"), max_length=500, required=False,
                           widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, team=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from mediabao.wechat.models import OfficialAccount

        self.team = team
        self.accounts = {a.pk: a for a in OfficialAccount.objects.for_team(team)}
        self.fields["account"].choices = [("", _("Choose an account"))] + [
            (pk, a.name) for pk, a in self.accounts.items()]
        self.fields["account"].error_messages["invalid_choice"] = _(
            "Choose one of your team's official accounts.")

    def clean_name(self) -> str:
        account = self.data.get("account")
        try:
            account_id = int(account) if account not in (None, "") else None
        except (TypeError, ValueError):
            account_id = None
        return _clean_name(self.cleaned_data.get("name", ""), team=self.team, account_id=account_id)

    def clean_account(self):
        return self.accounts[self.cleaned_data["account"]]


class ChannelEditForm(BootstrapMixin, forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60)
    note = forms.CharField(label=_("Note"), max_length=500, required=False,
                           widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, channel: Channel, **kwargs) -> None:
        kwargs.setdefault("initial", {"name": channel.name, "note": channel.note})
        super().__init__(*args, **kwargs)
        self.channel = channel

    def clean_name(self) -> str:
        return _clean_name(self.cleaned_data.get("name", ""), team=self.channel.team,
                           account_id=self.channel.account_id, exclude_pk=self.channel.pk)


class ChannelFilterForm(BootstrapMixin, forms.Form):
    """The list's filters; invalid values are ignored rather than failing the page."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100,
                        widget=forms.TextInput(attrs={"placeholder": _("Name")}))
    account = forms.TypedChoiceField(label=_("Official account"), required=False, coerce=int,
                                     empty_value=None)
    archived = forms.ChoiceField(label=_("State"), required=False, choices=_ARCHIVED)

    def __init__(self, *args, accounts=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = [("", _("All accounts"))] + [(a.pk, a.name) for a in accounts]

    def to_filter(self) -> ChannelFilter:
        self.is_valid()  # an invalid field drops out of cleaned_data; the valid ones still apply
        data = getattr(self, "cleaned_data", {})
        archived = {"1": True, "all": None}.get(data.get("archived") or "0", False)
        return ChannelFilter(q=data.get("q") or "", account=data.get("account"), archived=archived)


class StatsRangeForm(BootstrapMixin, forms.Form):
    # <input type=date> takes ISO dates whatever the locale's display format is
    start = forms.DateField(label=_("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    end = forms.DateField(label=_("To"), required=False,
                          widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def clean(self):
        data = super().clean()
        default_start, default_end = default_range()
        end: date = data.get("end") or default_end
        start: date = data.get("start") or (end - timedelta(days=(default_end - default_start).days))
        if start > end:
            raise forms.ValidationError(_("The start date must not be after the end date."), code="order")
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise forms.ValidationError(_("Choose at most %(days)s days."), code="too_long",
                                        params={"days": MAX_RANGE_DAYS})
        data["start"], data["end"] = start, end
        return data

    def range(self) -> tuple[date, date]:
        """The valid range, or the default one when the input is invalid."""
        if self.is_valid():
            return self.cleaned_data["start"], self.cleaned_data["end"]
        return default_range()


class QRForm(forms.Form):
    size = forms.TypedChoiceField(required=False, coerce=int, empty_value=qr.DEFAULT_SIZE,
                                  choices=[(s, s) for s in qr.SIZES])
