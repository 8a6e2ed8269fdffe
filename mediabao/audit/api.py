"""REST API of the audit log: read-only, for owners and admins."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError

from mediabao.accounts.permissions import IsTeamManager
from mediabao.audit import selectors
from mediabao.audit.forms import AuditApiFilterForm
from mediabao.audit.models import Action, AuditEntry
from mediabao.core.api import TeamScopedMixin


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    action_display = serializers.CharField(source="get_action_display", read_only=True)

    class Meta:
        model = AuditEntry
        fields = ["id", "created_at", "actor", "actor_name", "action", "action_display", "target_type",
                  "target_id", "target_label", "details", "ip"]
        read_only_fields = fields


FILTERS = [OpenApiParameter("actor", int, description="user id"),
           OpenApiParameter("action", str, enum=Action.values),
           OpenApiParameter("start", OpenApiTypes.DATE, description="first local day"),
           OpenApiParameter("end", OpenApiTypes.DATE, description="last local day")]


@extend_schema_view(list=extend_schema(parameters=FILTERS))
class AuditEntryViewSet(TeamScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    """Operator actions of the team, newest first."""

    serializer_class = AuditEntrySerializer
    scoped_model = AuditEntry
    queryset = AuditEntry.objects.none()
    permission_classes = [IsTeamManager]

    def get_queryset(self):
        if self.action != "list":
            return super().get_queryset()
        team = self.get_team()
        form = AuditApiFilterForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationError({("non_field_errors" if k == "__all__" else k): [str(e) for e in v]
                                   for k, v in form.errors.items()})
        return selectors.entries(team, form.to_filter())
