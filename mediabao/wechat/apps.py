from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class WechatConfig(AppConfig):
    name = "mediabao.wechat"
    label = "wechat"
    verbose_name = _("WeChat gateway")

    def ready(self) -> None:
        # Feature apps register event handlers in a ``wechat_handlers`` module; importing
        # them here keeps ``wechat`` free of imports of any feature app.
        autodiscover_modules("wechat_handlers")
        from mediabao.core.health import ADVISORY_CHECKS
        from mediabao.wechat.processing import check_pending_events

        ADVISORY_CHECKS["wechat_events"] = check_pending_events
