"""REST API of official accounts (read side; authorization flows come with the gateway)."""

from __future__ import annotations

from rest_framework import serializers, viewsets

from mediabao.core.api import TeamScopedMixin
from mediabao.wechat.models import OfficialAccount


class OfficialAccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = OfficialAccount
        fields = ["id", "appid", "name", "original_id", "avatar_url", "kind", "verified",
                  "auth_mode", "state", "created_at", "last_event_at"]
        read_only_fields = fields


class OfficialAccountViewSet(TeamScopedMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = OfficialAccountSerializer
    scoped_model = OfficialAccount
    queryset = OfficialAccount.objects.none()
