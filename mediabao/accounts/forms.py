from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, UserCreationForm
from django.utils.translation import gettext_lazy as _

from mediabao.accounts.models import Role, User
from mediabao.core.forms import BootstrapMixin


class SignUpForm(BootstrapMixin, UserCreationForm):
    email = forms.EmailField(label=_("Email"), required=False)
    team_name = forms.CharField(label=_("Team name"), max_length=100, required=False,
                                help_text=_("You can rename it or create more teams later."))

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class LoginForm(BootstrapMixin, AuthenticationForm):
    pass


class TeamForm(BootstrapMixin, forms.Form):
    name = forms.CharField(label=_("Team name"), max_length=100)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("Please enter a name."))
        return name


class InvitationForm(BootstrapMixin, forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=[(Role.MEMBER, Role.MEMBER.label),
                                                       (Role.ADMIN, Role.ADMIN.label)])


class RoleForm(BootstrapMixin, forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class ApiTokenForm(BootstrapMixin, forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=100,
                           help_text=_("For example: the script or server that will use it."))


class PasswordForm(BootstrapMixin, PasswordChangeForm):
    pass
