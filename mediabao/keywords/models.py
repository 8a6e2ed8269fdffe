"""Keyword replies (关键词回复): an account answers a fan's text with a passive reply."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mediabao.core.tenancy import TeamOwned
from mediabao.wechat.models import OfficialAccount


class KeywordRule(TeamOwned):
    class Match(models.TextChoices):
        EXACT = "exact", _("Exact match")
        CONTAINS = "contains", _("Contains")

    class ReplyType(models.TextChoices):
        TEXT = "text", _("Text")
        IMAGE = "image", _("Image")
        NEWS = "news", _("News card")

    account = models.ForeignKey(OfficialAccount, on_delete=models.CASCADE, related_name="keyword_rules",
                                verbose_name=_("official account"))
    keyword = models.CharField(_("keyword"), max_length=60)
    match = models.CharField(_("match"), max_length=10, choices=Match.choices, default=Match.EXACT)
    reply_type = models.CharField(_("reply type"), max_length=10, choices=ReplyType.choices,
                                  default=ReplyType.TEXT)
    text = models.TextField(_("reply text"), blank=True, max_length=2000)
    image_media_id = models.CharField(_("image media id"), max_length=128, blank=True)
    image_name = models.CharField(_("image"), max_length=200, blank=True)
    news_title = models.CharField(_("card title"), max_length=64, blank=True)
    news_description = models.CharField(_("card description"), max_length=120, blank=True)
    news_url = models.URLField(_("card link"), max_length=500, blank=True)
    news_picurl = models.URLField(_("card picture URL"), max_length=500, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    active_from = models.DateTimeField(_("active from"), null=True, blank=True)
    active_until = models.DateTimeField(_("active until"), null=True, blank=True)
    position = models.PositiveIntegerField(
        _("order"), default=100, help_text=_("Rules are tried in this order; the first match wins."))
    hits = models.PositiveIntegerField(_("replies sent"), default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["account", "enabled", "position"], name="keyword_lookup")]
        verbose_name = _("keyword rule")
        verbose_name_plural = _("keyword rules")

    def __str__(self) -> str:
        return self.keyword

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return (self.enabled and (self.active_from is None or self.active_from <= now)
                and (self.active_until is None or now < self.active_until))

    def matches(self, text: str) -> bool:
        text, keyword = text.strip().casefold(), self.keyword.strip().casefold()
        if not keyword:
            return False
        return text == keyword if self.match == self.Match.EXACT else keyword in text
