"""The statistics filter: a range of days (default the last 30, at most 366), an account,
an activity. Account and activity are ids here; the views resolve them in the team with
``get_for_team_or_404`` so another team's id is a 404, like an id that does not exist."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from mediabao.core.forms import BootstrapMixin
from mediabao.stats.selectors import DEFAULT_RANGE_DAYS, MAX_RANGE_DAYS, today

PRESETS = (7, 30, 90)
MAX_ID = 2**63 - 1  # bigint primary keys
#: Days outside these would overflow the time zone arithmetic (and mean nothing here).
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


class StatsFilterForm(BootstrapMixin, forms.Form):
    # <input type=date> sends ISO dates whatever the locale displays
    start = forms.DateField(label=_("From"), required=False, input_formats=["%Y-%m-%d"],
                            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    end = forms.DateField(label=_("To"), required=False, input_formats=["%Y-%m-%d"],
                          widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    account = forms.IntegerField(label=_("Official account"), required=False, min_value=1, max_value=MAX_ID,
                                 widget=forms.Select)
    activity = forms.IntegerField(label=_("Activity"), required=False, min_value=1, max_value=MAX_ID,
                                  widget=forms.Select)

    def __init__(self, *args, accounts=(), activities=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.accounts, self.activities = list(accounts), list(activities)
        self.fields["account"].widget.choices = [("", _("All accounts")),
                                                 *((a.pk, a.name) for a in self.accounts)]
        self.fields["activity"].widget.choices = [("", _("All activities")),
                                                  *((a.pk, a.name) for a in self.activities)]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        end: date = data.get("end") or today()
        start: date = data.get("start") or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
        if not (EARLIEST <= start <= LATEST and EARLIEST <= end <= LATEST):
            raise forms.ValidationError(
                _("Choose days between %(earliest)s and %(latest)s."), code="out_of_range",
                params={"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()})
        if start > end:
            raise forms.ValidationError(_("The start date must not be after the end date."), code="order")
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise forms.ValidationError(_("Choose at most %(days)s days."), code="too_long",
                                        params={"days": MAX_RANGE_DAYS})
        data["start"], data["end"] = start, end
        return data
