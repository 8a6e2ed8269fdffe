"""REST API of accounts: who am I, my teams, members, invitations, API tokens."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from mediabao.accounts import selectors, services
from mediabao.accounts.models import ApiToken, Invitation, Membership, Role, Team
from mediabao.accounts.permissions import IsTeamManager, request_membership
from mediabao.core.api import TeamScopedMixin, request_team


class TeamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "created_at"]


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()  # may be empty: no "email" format
    team = TeamSerializer()
    role = serializers.ChoiceField(choices=Role.choices)


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "joined_at"]


class InvitationSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = ["id", "role", "created_at", "expires_at", "url"]
        read_only_fields = ["id", "created_at", "expires_at", "url"]

    def get_url(self, obj) -> str | None:
        key = self.context.get("new_key")
        if not key:
            return None
        return self.context["request"].build_absolute_uri(reverse("accounts:invite", args=[key]))

    def validate_role(self, value: str) -> str:
        if value not in (Role.ADMIN, Role.MEMBER):
            raise serializers.ValidationError(_("An invitation can grant the admin or member role."))
        return value


class ApiTokenSerializer(serializers.ModelSerializer):
    key = serializers.SerializerMethodField(help_text="The secret key; returned only on creation.")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at", "key"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "revoked_at", "key"]

    def get_key(self, obj) -> str | None:
        return self.context.get("new_key")


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        membership = request_membership(request)
        data = {"id": request.user.id, "username": request.user.username,
                "email": request.user.email, "team": membership.team, "role": membership.role}
        return Response(MeSerializer(data).data)


class TeamViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = TeamSerializer
    queryset = Team.objects.none()

    def get_queryset(self):
        return selectors.teams_of(self.request.user)


class MemberViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = MemberSerializer
    queryset = Membership.objects.none()

    def get_queryset(self):
        return selectors.members_of(request_team(self.request))


class InvitationViewSet(TeamScopedMixin, mixins.ListModelMixin, mixins.CreateModelMixin,
                        mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = InvitationSerializer
    scoped_model = Invitation
    queryset = Invitation.objects.none()
    permission_classes = [IsTeamManager]

    def get_base_queryset(self):
        return Invitation.objects.filter(accepted_at=None, revoked_at=None)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = services.create_invitation(team=self.get_team(), by=request.user,
                                             role=serializer.validated_data.get("role", Role.MEMBER))
        body = InvitationSerializer(created.invitation,
                                    context={"request": request, "new_key": created.key}).data
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.revoke_invitation(invitation=instance, by=self.request.user)


class ApiTokenViewSet(TeamScopedMixin, mixins.ListModelMixin, mixins.CreateModelMixin,
                      mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Your own API tokens in the current team. DELETE revokes a token."""

    serializer_class = ApiTokenSerializer
    scoped_model = ApiToken
    queryset = ApiToken.objects.none()

    def get_base_queryset(self):
        return ApiToken.objects.filter(user=self.request.user)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            created = services.create_api_token(user=request.user, team=self.get_team(),
                                                name=serializer.validated_data["name"])
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from exc
        body = ApiTokenSerializer(created.token, context={"new_key": created.key}).data
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.revoke_api_token(token=instance, by=self.request.user)
