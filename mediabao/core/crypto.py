"""Secrets at rest: Fernet (AES-128-CBC + HMAC) with rotation through MultiFernet.

``FIELD_ENCRYPTION_KEYS`` lists keys newest first; values are encrypted with the first
and decrypted with any, so a key can be rotated without downtime.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    return fernet().decrypt(value.encode()).decode()


def mask(value: str, visible: int = 4) -> str:
    """What the console shows of a secret: its last few characters only."""
    if not value:
        return ""
    return "•" * 8 + value[-visible:] if len(value) > visible * 2 else "•" * 8


class EncryptedTextField(models.TextField):
    """A text column stored encrypted; reads give the plain text, the database never does."""

    description = "Encrypted text"

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(str(value))

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        try:
            return decrypt(value)
        except InvalidToken as exc:
            raise ValueError("cannot decrypt a secret: FIELD_ENCRYPTION_KEYS changed?") from exc
