"""Deployment checks (``mediabao check --deploy``): production needs explicit settings.

Without them every host would make its own secret key and encryption key and start
its own embedded servers: sessions, secrets at rest and data would not be shared.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.checks import Tags, Warning, register

REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL",
                          "ALLOWED_HOSTS", "PUBLIC_BASE_URL")


@register(Tags.security, deploy=True)
def production_settings(app_configs, **kwargs) -> list[Warning]:
    if not settings.PRODUCTION:
        return [Warning("MEDIABAO_PRODUCTION is not set: secure cookies, HSTS and hashed "
                        "static files are off.", id="mediabao.W001")]
    return [
        Warning(f"{name} is not set in the environment; in production every host must share "
                "the same explicit value.", id="mediabao.W002")
        for name in REQUIRED_IN_PRODUCTION if not os.environ.get(name)
    ]
