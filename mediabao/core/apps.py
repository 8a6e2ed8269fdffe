from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "mediabao.core"
    label = "core"
    verbose_name = "MediaBao core"
