from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KeywordsConfig(AppConfig):
    name = "mediabao.keywords"
    label = "keywords"
    verbose_name = _("Keyword replies")
