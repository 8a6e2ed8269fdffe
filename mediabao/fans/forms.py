from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from mediabao.core.forms import BootstrapMixin
from mediabao.fans.models import Fan
from mediabao.fans.selectors import FanFilter

_TRISTATE = [("", _("All")), ("1", _("Yes")), ("0", _("No"))]


class FanFilterForm(BootstrapMixin, forms.Form):
    """The fan list's filters; invalid values are ignored rather than failing the page."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100,
                        widget=forms.TextInput(attrs={"placeholder": _("Nickname, remark or OpenID")}))
    account = forms.TypedChoiceField(label=_("Official account"), required=False, coerce=int,
                                     empty_value=None)
    following = forms.ChoiceField(label=_("Following"), required=False, choices=_TRISTATE)
    in_window = forms.ChoiceField(label=_("Interacted in 48 h"), required=False, choices=_TRISTATE)
    source = forms.ChoiceField(label=_("Source"), required=False,
                               choices=[("", _("All"))] + list(Fan.Source.choices))
    tag = forms.IntegerField(label=_("Tag id"), required=False, min_value=0, max_value=2**31 - 1)
    channel = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, accounts=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].choices = [("", _("All accounts"))] + [(a.pk, a.name) for a in accounts]

    def to_filter(self) -> FanFilter:
        data = self.cleaned_data if self.is_valid() else {}

        def tri(value: str | None) -> bool | None:
            return {"1": True, "0": False}.get(value or "")

        return FanFilter(account=data.get("account"), q=data.get("q") or "",
                         following=tri(data.get("following")), in_window=tri(data.get("in_window")),
                         tag=data.get("tag"), source=data.get("source") or "",
                         channel=data.get("channel"))
