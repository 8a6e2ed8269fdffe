"""Writes of keyword rules (the image goes to WeChat as permanent material once)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from mediabao.audit import services as audit
from mediabao.keywords.models import KeywordRule
from mediabao.wechat.errors import WeChatError
from mediabao.wechat.media import add_image_material


def save_rule(rule: KeywordRule, image=None) -> KeywordRule:
    if image is not None:
        try:
            image.seek(0)
            rule.image_media_id = add_image_material(rule.account, image.read(), image.name,
                                                     image.content_type or "image/jpeg")
        except WeChatError as exc:
            raise ValidationError({"image": _("WeChat refused the image: %(reason)s")
                                   % {"reason": exc.meaning}}) from exc
        rule.image_name = image.name[:200]
    created = rule.pk is None
    rule.save()
    audit.record(rule.team, "keyword.created" if created else "keyword.changed", rule)
    return rule
