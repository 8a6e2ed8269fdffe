from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from mediabao.audit.models import Action
from mediabao.audit.selectors import EntryFilter
from mediabao.core.forms import BootstrapMixin


class AuditFilterForm(BootstrapMixin, forms.Form):
    """The audit log's filters; an invalid value is an error shown next to its field."""

    actor = forms.TypedChoiceField(label=_("Operator"), required=False, coerce=int, empty_value=None)
    action = forms.ChoiceField(label=_("Action"), required=False,
                               choices=[("", _("All actions"))] + list(Action.choices))
    start = forms.DateField(label=_("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, actors=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.fields["actor"], forms.TypedChoiceField):
            self.fields["actor"].choices = [("", _("All operators"))] + list(actors)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", _("The end must not be before the start."))
        return data

    def to_filter(self) -> EntryFilter:
        data = self.cleaned_data if self.is_valid() else {}
        return EntryFilter(actor=data.get("actor"), action=data.get("action") or "",
                           start=data.get("start"), end=data.get("end"))


class AuditApiFilterForm(AuditFilterForm):
    """The API's filters: any user id (one not in the log matches nothing)."""

    actor = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
