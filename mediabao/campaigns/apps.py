from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "mediabao.campaigns"
    label = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        # Advisory, not critical: without a CJK font only posters fail, so /healthz shows
        # it (and how to fix it) without turning the whole page 503.
        from mediabao.campaigns.fonts import check_poster_font
        from mediabao.core.health import ADVISORY_CHECKS

        ADVISORY_CHECKS["poster_font"] = check_poster_font

        # Join keywords answer before the operator's keyword rules at the default position.
        from mediabao.campaigns.wechat_handlers import join_keyword
        from mediabao.keywords.matching import register_provider

        register_provider("campaigns", join_keyword, position=40)
