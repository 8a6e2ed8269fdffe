from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "mediabao.core"
    label = "core"
    verbose_name = "MediaBao core"

    def ready(self) -> None:
        from mediabao.core import checks  # noqa: F401 - registers the deployment checks
