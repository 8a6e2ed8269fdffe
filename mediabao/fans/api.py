"""REST API of fans: the filtered list, one fan, follower syncs."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from mediabao.core.api import TeamScopedMixin
from mediabao.core.tenancy import get_for_team_or_404
from mediabao.fans import selectors, services
from mediabao.fans.forms import FanFilterForm
from mediabao.fans.models import Fan, FanSync
from mediabao.fans.tasks import sync_fans
from mediabao.wechat.models import OfficialAccount


class FanSerializer(serializers.ModelSerializer):
    in_window = serializers.SerializerMethodField()
    avatar_url = serializers.CharField(read_only=True)  # may be empty: no "uri" format

    class Meta:
        model = Fan
        fields = ["id", "account", "openid", "unionid", "subscribed", "subscribe_time",
                  "subscribe_scene", "qr_scene", "unsubscribe_time", "nickname", "avatar_url",
                  "remark", "tags", "source", "source_ref", "last_interaction_at", "in_window"]
        read_only_fields = fields

    def get_in_window(self, obj: Fan) -> bool:
        return obj.in_window()


class FanSyncSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id")
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = FanSync
        fields = ["id", "account", "state", "total", "fetched", "profiles", "percent", "error",
                  "started_at", "finished_at"]
        read_only_fields = ["id", "state", "total", "fetched", "profiles", "percent", "error",
                            "started_at", "finished_at"]


FILTER_PARAMS = [
    OpenApiParameter("q", str, description="start of the nickname or remark, or an exact OpenID"),
    OpenApiParameter("account", int), OpenApiParameter("following", int, enum=[0, 1]),
    OpenApiParameter("in_window", int, enum=[0, 1]), OpenApiParameter("tag", int),
    OpenApiParameter("source", str, enum=[c for c, _ in Fan.Source.choices]),
]


@extend_schema_view(list=extend_schema(parameters=FILTER_PARAMS))
class FanViewSet(TeamScopedMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = FanSerializer
    scoped_model = Fan
    queryset = Fan.objects.none()

    def get_queryset(self):
        if self.action != "list":
            return super().get_queryset()
        team = self.get_team()
        form = FanFilterForm(self.request.query_params,
                             accounts=OfficialAccount.objects.for_team(team))
        return selectors.fans(team, form.to_filter())


class FanSyncViewSet(TeamScopedMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin,
                     mixins.ListModelMixin, viewsets.GenericViewSet):
    """Follower syncs. POST ``{"account": id}`` starts one (or returns the running one)."""

    serializer_class = FanSyncSerializer
    scoped_model = FanSync
    queryset = FanSync.objects.none()

    @extend_schema(responses={200: FanSyncSerializer, 202: FanSyncSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account_id = serializer.validated_data["account_id"]
        account = get_for_team_or_404(OfficialAccount, self.get_team(), pk=account_id)
        sync, created = services.start_sync(account)
        if created:
            sync_fans.delay(sync.pk)
        body = FanSyncSerializer(sync).data
        # 202: a new sync was queued; 200: the running one is returned.
        return Response(body, status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)
