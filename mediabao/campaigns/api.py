"""REST API of 任务宝: activities (CRUD, validated by the console's form) and participants."""

from __future__ import annotations

from datetime import datetime

from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from mediabao.audit import services as audit
from mediabao.campaigns import services
from mediabao.campaigns.forms import MAX_TIERS, ActivityForm, ParticipantFilterForm
from mediabao.campaigns.models import Activity, Participant, RewardClaim
from mediabao.core.api import TeamScopedMixin


class TierSerializer(serializers.Serializer):
    level = serializers.IntegerField()
    invites_needed = serializers.IntegerField()
    prize = serializers.CharField()
    stock = serializers.IntegerField(allow_null=True)
    remaining = serializers.IntegerField(allow_null=True)


class ActivitySerializer(serializers.ModelSerializer):
    state = serializers.SerializerMethodField()
    tiers = TierSerializer(many=True, read_only=True)
    accounts = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Activity
        fields = ["id", "name", "start_time", "end_time", "state", "accounts", "protection",
                  "deduct_on_unfollow", "join_keyword", "rules", "assist_notice", "tier_notice",
                  "unfollow_notice", "out_of_stock_notice", "welcome_text", "fraud_max_per_minute",
                  "fraud_unfollow_percent", "fraud_unfollow_minutes", "fraud_action", "poster_background",
                  "poster_layout", "tiers", "created_at"]
        read_only_fields = fields

    def get_state(self, obj: Activity) -> str:
        return obj.state()


_TIME = "YYYY-MM-DD HH:MM[:SS] (Asia/Shanghai)"


class TierInputSerializer(serializers.Serializer):
    invites_needed = serializers.IntegerField(min_value=1, max_value=100000)
    prize = serializers.CharField(max_length=100)
    stock = serializers.IntegerField(min_value=0, max_value=10_000_000, required=False, allow_null=True,
                                     help_text="Empty: unlimited")


class ActivityInputSerializer(serializers.Serializer):
    """Schema only: the console's form does the validating; fields left out keep their
    current value (update). ``poster_background`` is a multipart upload (required on create)."""

    name = serializers.CharField(max_length=100)
    start_time = serializers.CharField(help_text=_TIME)
    end_time = serializers.CharField(help_text=_TIME)
    accounts = serializers.ListField(child=serializers.IntegerField(), help_text="Official account ids")
    join_keyword = serializers.CharField(max_length=30)
    rules = serializers.CharField(max_length=1500, required=False)
    protection = serializers.BooleanField(required=False)
    deduct_on_unfollow = serializers.BooleanField(required=False)
    assist_notice = serializers.CharField(max_length=300, required=False)
    tier_notice = serializers.CharField(max_length=300, required=False)
    unfollow_notice = serializers.CharField(max_length=300, required=False)
    out_of_stock_notice = serializers.CharField(max_length=300, required=False)
    welcome_text = serializers.CharField(max_length=300, required=False)
    fraud_max_per_minute = serializers.IntegerField(min_value=0, required=False)
    fraud_unfollow_percent = serializers.IntegerField(min_value=0, max_value=100, required=False)
    fraud_unfollow_minutes = serializers.IntegerField(min_value=0, required=False)
    fraud_action = serializers.ChoiceField(choices=Activity.FraudAction.choices, required=False)
    tiers = TierInputSerializer(many=True, required=False, help_text="At most 3, level 1 first")
    layout = serializers.DictField(required=False, help_text="Poster layout: avatar_x, avatar_y, …")
    poster_background = serializers.ImageField(required=False)


ACTIVITY_BODY = extend_schema(request={"application/json": ActivityInputSerializer,
                                       "multipart/form-data": ActivityInputSerializer})


class ParticipantSerializer(serializers.ModelSerializer):
    avatar_url = serializers.CharField(read_only=True)  # may be empty: no "uri" format

    class Meta:
        model = Participant
        fields = ["id", "activity", "account", "openid", "nickname", "avatar_url", "inviter", "level",
                  "invites", "tiers_completed", "following", "blacklisted", "flagged", "flag_reason",
                  "joined", "created_at"]
        read_only_fields = fields


def _form_data(request, instance: Activity | None, team) -> QueryDict:
    """The request body in the console form's shape (tiers as a list, layout as a dict);
    fields left out keep their current value (update) or the model's default (create)."""
    data = QueryDict(mutable=True)
    form = ActivityForm(instance=instance, team=team)
    for name, field in form.fields.items():
        if name == "poster_background":
            continue
        value = form.initial.get(name, field.initial)
        value = value() if callable(value) else value
        if name == "accounts":
            if instance is not None:
                data.setlist(name, [str(a.pk) for a in instance.accounts.all()])
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, datetime):
            data[name] = timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
        elif value is not None:
            data[name] = str(value)
    body = request.data
    for key in body:
        if key in ("tiers", "layout", "poster_background"):
            continue
        value = body.getlist(key) if hasattr(body, "getlist") else body[key]
        if key == "accounts":
            data.setlist("accounts", [str(v) for v in (value if isinstance(value, list) else [value])])
        elif isinstance(value, bool):
            data.pop(key, None)
            if value:
                data[key] = "on"
        elif isinstance(value, list):
            data.setlist(key, [str(v) for v in value])
        elif value is not None:
            data[key] = str(value)
    tiers = body.get("tiers")
    if isinstance(tiers, list):
        for level in range(1, MAX_TIERS + 1):
            for key in ("invites", "prize", "stock"):
                data.pop(f"tier{level}_{key}", None)
        for level, tier in enumerate(tiers[:MAX_TIERS], start=1):
            if isinstance(tier, dict):
                for key, src in (("invites", "invites_needed"), ("prize", "prize"), ("stock", "stock")):
                    if tier.get(src) is not None:
                        data[f"tier{level}_{key}"] = str(tier[src])
    layout = body.get("layout")
    if isinstance(layout, dict):
        for key, value in layout.items():
            data[f"layout_{key}"] = str(value)
    return data


class ActivityViewSet(TeamScopedMixin, viewsets.ModelViewSet):
    """Activities; create/update take multipart (``poster_background`` file) or JSON
    (``tiers``: [{invites_needed, prize, stock}], ``layout``: {...}) and the same checks as
    the console."""

    scoped_model = Activity
    serializer_class = ActivitySerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_base_queryset(self):
        return Activity.objects.prefetch_related("tiers", "accounts")

    def _save(self, request, instance: Activity | None, status: int) -> Response:
        team = self.get_team()
        upload = request.FILES.get("poster_background")
        files = {"poster_background": upload} if upload else None
        form = ActivityForm(_form_data(request, instance, team), files, instance=instance, team=team)
        if not form.is_valid():
            raise ValidationError({k: [str(e) for e in v] for k, v in form.errors.items()})
        if instance is None:
            form.instance.created_by = request.user
        activity = form.save()
        audit.record(team, "activity.created" if instance is None else "activity.changed", activity,
                     details=None if instance is None else {"fields": form.changed_data[:20]})
        return Response(ActivitySerializer(self.get_queryset().get(pk=activity.pk),
                                           context=self.get_serializer_context()).data, status=status)

    @ACTIVITY_BODY
    def create(self, request, *args, **kwargs):
        return self._save(request, None, 201)

    @ACTIVITY_BODY
    def update(self, request, *args, **kwargs):
        return self._save(request, self.get_object(), 200)

    @ACTIVITY_BODY
    def partial_update(self, request, *args, **kwargs):
        return self._save(request, self.get_object(), 200)

    def perform_destroy(self, instance):
        audit.record(self.get_team(), "activity.deleted", instance)
        instance.delete()


class ParticipantViewSet(TeamScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                         viewsets.GenericViewSet):
    """Participants with the console's filters (``activity``, ``account``, ``following``,
    ``joined``, ``blacklisted``, ``flagged``, ``tier``, ``q``)."""

    scoped_model = Participant
    serializer_class = ParticipantSerializer

    def get_queryset(self):
        queryset = super().get_queryset().order_by("-invites", "id")
        form = ParticipantFilterForm(self.request.query_params or None, team=self.get_team())
        if self.request.query_params and not form.is_valid():
            raise ValidationError({k: [str(e) for e in v] for k, v in form.errors.items()})
        return form.filter(queryset)


class RewardClaimSerializer(serializers.ModelSerializer):
    activity = serializers.IntegerField(source="tier.activity_id", read_only=True)
    level = serializers.IntegerField(source="tier.level", read_only=True)
    prize = serializers.CharField(source="tier.prize", read_only=True)
    openid = serializers.CharField(source="participant.openid", read_only=True)
    code = serializers.SerializerMethodField(help_text="Empty while the tier's code pool has no code for it")

    class Meta:
        model = RewardClaim
        fields = ["id", "activity", "level", "prize", "participant", "openid", "code", "name", "phone",
                  "address", "shipped", "shipped_at", "created_at"]
        read_only_fields = [f for f in fields if f != "shipped"]

    def get_code(self, obj: RewardClaim) -> str:
        from mediabao.campaigns import codes

        cache = self.context.setdefault("pool_tiers", {})
        if obj.tier_id not in cache:
            cache[obj.tier_id] = obj.tier_id in codes.pool_tier_ids([obj.tier_id])
        return codes.shown(obj, {obj.tier_id} if cache[obj.tier_id] else set())


class RewardClaimViewSet(TeamScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                         mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Prizes secured (``?activity=``, ``?shipped=0|1``); PATCH ``{"shipped": true}`` marks one shipped."""

    scoped_model = RewardClaim
    serializer_class = RewardClaimSerializer

    def get_queryset(self):
        queryset = super().get_queryset().select_related("tier", "participant").order_by("-created_at")
        params = self.request.query_params
        if params.get("activity"):
            if not params["activity"].isdigit():
                raise ValidationError({"activity": ["Enter a whole number."]})
            queryset = queryset.filter(tier__activity_id=int(params["activity"]))
        if params.get("shipped") in ("0", "1"):
            queryset = queryset.filter(shipped=params["shipped"] == "1")
        return queryset

    def perform_update(self, serializer):
        shipped = serializer.validated_data.get("shipped")
        if shipped is not None:
            services.mark_shipped(serializer.instance, bool(shipped))
            serializer.instance.refresh_from_db()
