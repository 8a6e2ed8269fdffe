"""Console forms of the gateway."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from mediabao.core.forms import BootstrapMixin


class DeveloperAccountForm(BootstrapMixin, forms.Form):
    """Developer mode (开发者模式): credentials copied from the WeChat admin console."""

    name = forms.CharField(label=_("Name"), max_length=100, required=False,
                           help_text=_("How the account is called in MediaBao; defaults to the AppID."))
    appid = forms.CharField(label=_("AppID"), max_length=32)
    appsecret = forms.CharField(label=_("AppSecret"), max_length=64,
                                widget=forms.PasswordInput(render_value=False),
                                help_text=_("Stored encrypted and never shown again in full."))
    token = forms.CharField(label=_("Token"), max_length=32,
                            help_text=_("The Token you enter under Server configuration in WeChat."))
    encoding_aes_key = forms.CharField(label=_("EncodingAESKey"), min_length=43, max_length=43,
                                       widget=forms.PasswordInput(render_value=False))

    def add_error(self, field, error) -> None:
        """Errors found after validation (WeChat's answer) mark their field invalid too."""
        super().add_error(field, error)
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                if "is-invalid" not in widget.attrs.get("class", ""):
                    widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()
