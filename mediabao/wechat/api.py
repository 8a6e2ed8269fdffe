"""REST API of official accounts: list/read, developer-mode connect, event log, call counters."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from mediabao.accounts.permissions import IsTeamManager, IsTeamMember
from mediabao.core.api import TeamScopedMixin
from mediabao.core.crypto import mask
from mediabao.wechat import selectors, services
from mediabao.wechat.models import Event, OfficialAccount


class OfficialAccountSerializer(serializers.ModelSerializer):
    callback_url = serializers.CharField(read_only=True)
    avatar_url = serializers.CharField(read_only=True)  # may be empty: no "uri" format
    appsecret_masked = serializers.SerializerMethodField()
    encoding_aes_key_masked = serializers.SerializerMethodField()

    class Meta:
        model = OfficialAccount
        fields = ["id", "appid", "name", "original_id", "avatar_url", "kind", "verified",
                  "auth_mode", "state", "created_at", "last_event_at", "callback_url",
                  "appsecret_masked", "encoding_aes_key_masked"]
        read_only_fields = fields

    def get_appsecret_masked(self, obj: OfficialAccount) -> str:
        return mask(obj.appsecret)

    def get_encoding_aes_key_masked(self, obj: OfficialAccount) -> str:
        return mask(obj.encoding_aes_key)


class DeveloperAccountSerializer(serializers.Serializer):
    """Developer mode: the credentials are checked with WeChat before the account is saved."""

    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    appid = serializers.CharField(max_length=32)
    appsecret = serializers.CharField(max_length=64, write_only=True)
    token = serializers.CharField(max_length=32, write_only=True)
    encoding_aes_key = serializers.CharField(max_length=43, write_only=True)


class EventSerializer(serializers.ModelSerializer):
    account = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Event
        fields = ["id", "account", "openid", "msg_type", "event", "event_key", "payload",
                  "create_time", "received_at"]
        read_only_fields = fields


def _drf_error(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        return ValidationError({key: value for key, value in exc.message_dict.items()})
    return ValidationError({"non_field_errors": exc.messages})


class OfficialAccountViewSet(TeamScopedMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = OfficialAccountSerializer
    scoped_model = OfficialAccount
    queryset = OfficialAccount.objects.none()

    def get_permissions(self):
        if self.action == "create":
            return [IsTeamManager()]
        return [IsTeamMember()]

    def get_serializer_class(self):
        if self.action == "create":
            return DeveloperAccountSerializer
        if self.action == "events":
            return EventSerializer
        return OfficialAccountSerializer

    @extend_schema(request=DeveloperAccountSerializer, responses={201: OfficialAccountSerializer})
    def create(self, request, *args, **kwargs):
        serializer = DeveloperAccountSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            account = services.add_developer_account(self.get_team(), **serializer.validated_data)
        except DjangoValidationError as exc:
            raise _drf_error(exc) from exc
        return Response(OfficialAccountSerializer(account).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[OpenApiParameter("kind", str), OpenApiParameter("openid", str)],
                   responses=EventSerializer(many=True))
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The account's event log, newest first; filter by ``kind`` and ``openid``."""
        account = self.get_object()
        events = selectors.events_for(self.get_team(), account=account,
                                      kind=request.query_params.get("kind", "")[:64],
                                      openid=request.query_params.get("openid", "")[:64])
        page = self.paginate_queryset(events)
        return self.get_paginated_response(EventSerializer(page, many=True).data)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def calls(self, request, pk=None):
        """Today's WeChat API calls of the account: ``{endpoint: {total, <errcode>: n}}``."""
        account = self.get_object()
        return Response(selectors.call_counts(account.appid))
