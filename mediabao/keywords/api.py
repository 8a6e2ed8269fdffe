"""REST API of keyword rules (text and news replies; images through the console)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import serializers, viewsets

from mediabao.audit import services as audit
from mediabao.core.api import TeamScopedMixin, request_team
from mediabao.keywords.models import KeywordRule
from mediabao.wechat.models import OfficialAccount


class KeywordRuleSerializer(serializers.ModelSerializer):
    account = serializers.PrimaryKeyRelatedField(queryset=OfficialAccount.objects.none())

    class Meta:
        model = KeywordRule
        fields = ["id", "account", "keyword", "match", "reply_type", "text", "image_media_id",
                  "news_title", "news_description", "news_url", "news_picurl", "enabled",
                  "active_from", "active_until", "position", "hits", "created_at"]
        read_only_fields = ["id", "image_media_id", "hits", "created_at"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None:
            fields["account"].queryset = OfficialAccount.objects.for_team(request_team(request))
        return fields

    def validate(self, data):
        kind = data.get("reply_type", getattr(self.instance, "reply_type", "text"))
        errors = {}
        if not str(data.get("keyword", getattr(self.instance, "keyword", ""))).strip():
            errors["keyword"] = [_("Please enter a keyword.")]
        if kind == KeywordRule.ReplyType.IMAGE:
            errors["reply_type"] = [_("Image replies are set up in the console.")]
        if kind == KeywordRule.ReplyType.TEXT and not str(
                data.get("text", getattr(self.instance, "text", ""))).strip():
            errors["text"] = [_("Please enter the reply text.")]
        if kind == KeywordRule.ReplyType.NEWS:
            for field in ("news_title", "news_url"):
                if not data.get(field, getattr(self.instance, field, "")):
                    errors[field] = [_("A news card needs a title and a link.")]
        start = data.get("active_from", getattr(self.instance, "active_from", None))
        end = data.get("active_until", getattr(self.instance, "active_until", None))
        if start and end and end <= start:
            errors["active_until"] = [_("The end must be after the start.")]
        if errors:
            raise serializers.ValidationError(errors)
        return data


class KeywordRuleViewSet(TeamScopedMixin, viewsets.ModelViewSet):
    serializer_class = KeywordRuleSerializer
    scoped_model = KeywordRule
    queryset = KeywordRule.objects.none()

    def perform_create(self, serializer):
        rule = serializer.save(team=self.get_team())
        audit.record(rule.team, "keyword.created", rule)

    def perform_update(self, serializer):
        audit.record(self.get_team(), "keyword.changed", serializer.save())

    def perform_destroy(self, instance):
        audit.record(self.get_team(), "keyword.deleted", instance)
        instance.delete()
