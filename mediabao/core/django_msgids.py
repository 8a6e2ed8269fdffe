"""Django 5.2 msgids its own zh_Hans catalog lacks; listed here so makemessages keeps them
in our catalog (this module is read by makemessages, never imported)."""

from django.utils.translation import gettext_noop, ngettext_lazy

MSGIDS = [
    ngettext_lazy(
        "This password is too short. It must contain at least %d character.",
        "This password is too short. It must contain at least %d characters.",
        0,
    ),
    gettext_noop("%(model)s instance with %(field)s %(value)r is not a valid choice."),
]
