from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsConfig(AppConfig):
    name = "mediabao.channels"
    label = "channels"
    verbose_name = _("Promo codes")

    def ready(self) -> None:
        # A finished follower sync closes channel rows of fans whose unsubscribe was lost;
        # a signal keeps the fans app unaware of channels.
        from django.db.models.signals import post_save

        from mediabao.channels.services import on_fan_sync_saved

        post_save.connect(on_fan_sync_saved, sender="fans.FanSync", dispatch_uid="channels-fan-sync")
