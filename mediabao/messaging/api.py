"""REST API of 消息宝: templates, uploads, send jobs and their recipients, SOP schedules.

Validation is :mod:`mediabao.messaging.validation`, the same as the console's; its
field errors become the API's 400 body (``{"code": "invalid", "fields": {...}}``).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from mediabao.core.api import TeamScopedMixin
from mediabao.core.tenancy import get_for_team_or_404
from mediabao.messaging import audience as audiences
from mediabao.messaging import rules, schedules, selectors, services, validation
from mediabao.messaging.models import Recipient, Schedule, SendJob, Template, Upload
from mediabao.wechat.errors import WeChatError
from mediabao.wechat.models import OfficialAccount


def _account(team, account_id) -> OfficialAccount:
    return get_for_team_or_404(OfficialAccount, team, pk=account_id)


def _invalid(exc: validation.Invalid) -> ValidationError:
    return ValidationError(exc.fields)


class AccountRef(serializers.Serializer):
    account = serializers.IntegerField()


# --- templates ---------------------------------------------------------------------------
class TemplateSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id", read_only=True)
    fields_ = serializers.SerializerMethodField(method_name="get_fields_")

    class Meta:
        model = Template
        fields = ["id", "account", "template_id", "title", "content", "example", "kind", "keys",
                  "fields_", "primary_industry", "deputy_industry", "removed", "synced_at"]
        read_only_fields = fields

    def get_fields_(self, obj: Template) -> list[dict]:
        return [{"key": k, "label": rules.label_of(obj.content, k), "type": rules.key_type(k) or "",
                 "hidden": obj.kind == "legacy" and k in rules.HIDDEN_KEYS} for k in obj.keys]


class PreviewSerializer(serializers.Serializer):
    data = serializers.JSONField()
    url = serializers.CharField(required=False, allow_blank=True)
    miniprogram = serializers.JSONField(required=False)


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("account", int)]))
class TemplateViewSet(TeamScopedMixin, viewsets.ReadOnlyModelViewSet):
    """An account's templates as last synced. ``POST sync/ {"account"}`` syncs them now."""

    serializer_class = TemplateSerializer
    scoped_model = Template
    queryset = Template.objects.none()

    def get_queryset(self):
        qs = super().get_queryset().filter(removed=False)
        account = self.request.query_params.get("account")
        if account and account.isdigit():
            qs = qs.filter(account_id=int(account))
        return qs

    @extend_schema(request=AccountRef,
                   responses={200: TemplateSerializer(many=True), 502: OpenApiTypes.OBJECT})
    @action(detail=False, methods=["post"])
    def sync(self, request):
        ref = AccountRef(data=request.data)
        ref.is_valid(raise_exception=True)
        account = _account(self.get_team(), ref.validated_data["account"])
        try:
            services.sync_templates(account)
        except WeChatError as exc:
            return Response({"code": "wechat_error", "message": exc.meaning, "errcode": exc.errcode},
                            status=status.HTTP_502_BAD_GATEWAY)
        qs = Template.objects.for_team(self.get_team()).filter(account=account, removed=False)
        return Response(TemplateSerializer(qs, many=True).data)

    @extend_schema(request=PreviewSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def preview(self, request, pk=None):
        """What the fan will see, warnings, and errors that would block sending."""
        template = self.get_object()
        body = PreviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = rules.check(template.content, template.kind, body.validated_data["data"])
        return Response({"lines": result.lines, "warnings": result.warnings, "errors": result.errors})


# --- uploads -------------------------------------------------------------------------------
class UploadSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id", read_only=True)

    class Meta:
        model = Upload
        fields = ["id", "account", "name", "content_type", "size", "width", "height", "media_id",
                  "media_uploaded_at", "created_at"]
        read_only_fields = fields


class UploadCreateSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    file = serializers.FileField()


class UploadViewSet(TeamScopedMixin, mixins.CreateModelMixin, mixins.ListModelMixin,
                    mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Images for customer-service messages (JPEG, PNG or GIF, at most 2 MB)."""

    serializer_class = UploadSerializer
    scoped_model = Upload
    queryset = Upload.objects.none()
    parser_classes = [MultiPartParser, FormParser]

    def get_base_queryset(self):
        return Upload.objects.defer("data")

    @extend_schema(request={"multipart/form-data": UploadCreateSerializer},
                   responses={201: UploadSerializer})
    def create(self, request, *args, **kwargs):
        body = UploadCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account = _account(self.get_team(), body.validated_data["account"])
        file = body.validated_data["file"]
        if file.size > services.IMAGE_MAX_BYTES:
            raise ValidationError({"file": [_("The image is larger than %(mb)d MB.")
                                            % {"mb": services.IMAGE_MAX_BYTES // (1024 * 1024)}]})
        try:
            upload = services.create_upload(self.get_team(), account, file.name, file.read())
        except validation.Invalid as exc:
            raise _invalid(exc) from None
        return Response(UploadSerializer(upload).data, status=status.HTTP_201_CREATED)


# --- jobs ----------------------------------------------------------------------------------
class JobSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default="")
    percent = serializers.IntegerField(read_only=True)
    success_rate = serializers.FloatField(read_only=True, allow_null=True)
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = SendJob
        fields = ["id", "account", "name", "kind", "state", "pause_reason", "message", "fallback",
                  "audience", "total", "sent", "failed", "skipped", "unknown", "percent",
                  "success_rate", "duration_seconds", "created_by", "created_at", "scheduled_at",
                  "started_at", "finished_at", "source_job", "schedule"]
        read_only_fields = fields

    def get_duration_seconds(self, obj: SendJob) -> float | None:
        return round(obj.duration.total_seconds(), 1) if obj.duration else None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        aud = data.get("audience") or {}
        if aud.get("type") == "openids":  # can be 100,000 long: the count is enough here
            data["audience"] = {**aud, "openids": len(aud.get("openids") or [])}
        return data


class JobCreateSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=SendJob.Kind.choices)
    name = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    message = serializers.JSONField()
    audience = serializers.JSONField()
    fallback = serializers.JSONField(required=False, allow_null=True, default=None)
    send_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    draft = serializers.BooleanField(required=False, default=False)


class AudienceSizeSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=SendJob.Kind.choices, default=SendJob.Kind.TEMPLATE)
    audience = serializers.JSONField()


class RecipientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Recipient
        fields = ["id", "openid", "state", "channel", "reason", "msgid", "errcode", "errmsg",
                  "delivery", "attempts", "updated_at"]
        read_only_fields = fields


TRANSITION = {200: JobSerializer, 409: OpenApiTypes.OBJECT}


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("state", str),
                                                   OpenApiParameter("account", int)]))
class JobViewSet(TeamScopedMixin, mixins.CreateModelMixin, mixins.ListModelMixin,
                 mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Send jobs. Create one to send now (or at ``send_at``); pause, resume, cancel, retry."""

    serializer_class = JobSerializer
    scoped_model = SendJob
    queryset = SendJob.objects.none()
    parser_classes = [JSONParser]

    def get_queryset(self):
        qs = super().get_queryset().select_related("created_by")
        params = self.request.query_params
        if params.get("state") in SendJob.State.values:
            qs = qs.filter(state=params["state"])
        if (params.get("account") or "").isdigit():
            qs = qs.filter(account_id=int(params["account"]))
        return qs

    @extend_schema(request=JobCreateSerializer, responses={201: JobSerializer})
    def create(self, request, *args, **kwargs):
        body = JobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        team = self.get_team()
        account = _account(team, data["account"])
        try:
            job, warnings = services.create_job(
                team=team, user=request.user if request.user.is_authenticated else None,
                account=account, kind=data["kind"], message=data["message"],
                audience=data["audience"], fallback=data["fallback"], name=data["name"],
                send_at=data["send_at"], start=not data["draft"])
        except validation.Invalid as exc:
            raise _invalid(exc) from None
        return Response({**JobSerializer(job).data, "warnings": warnings},
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=AudienceSizeSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["post"], url_path="audience-size")
    def audience_size(self, request):
        """How many fans an audience reaches now (and, for customer-service, how many in window)."""
        body = AudienceSizeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account = _account(self.get_team(), body.validated_data["account"])
        try:
            checked = validation.audience(self.get_team(), account, body.validated_data["audience"])
        except validation.Invalid as exc:
            raise _invalid(exc) from None
        return Response(audiences.size(checked.value, account.pk, body.validated_data["kind"]))

    def _transition(self, func, *args) -> Response:
        job = self.get_object()
        if not func(job, *args):
            return Response({"code": "conflict", "message": _("Not possible in state “%(state)s”.")
                             % {"state": job.get_state_display()}}, status=status.HTTP_409_CONFLICT)
        job.refresh_from_db()
        return Response(JobSerializer(job).data)

    @extend_schema(request=None, responses=TRANSITION)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._transition(services.pause_job)

    @extend_schema(request=None, responses=TRANSITION)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._transition(services.resume_job)

    @extend_schema(request=None, responses=TRANSITION)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._transition(services.cancel_job)

    @extend_schema(request=None, responses={201: JobSerializer, 409: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """A new job of the failed recipients only."""
        new = services.retry_failed(self.get_object(), request.user)
        if new is None:
            return Response({"code": "conflict", "message": _("No failed recipients to retry.")},
                            status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(new).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[OpenApiParameter("state", str, enum=Recipient.State.values)],
                   responses={200: RecipientSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def recipients(self, request, pk=None):
        job = self.get_object()
        qs = selectors.recipients(job, state=request.query_params.get("state", ""),
                                  q=request.query_params.get("q", ""))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(RecipientSerializer(page, many=True).data)

    @extend_schema(responses={
        200: {"type": "array", "items": {"type": "object", "additionalProperties": True}}})
    @action(detail=True, methods=["get"])
    def errors(self, request, pk=None):
        """Failures grouped by errcode, with WeChat's meaning."""
        return Response(selectors.error_groups(self.get_object()))


# --- schedules -----------------------------------------------------------------------------
class ScheduleSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id")
    next_runs = serializers.SerializerMethodField()

    class Meta:
        model = Schedule
        fields = ["id", "account", "name", "kind", "message", "fallback", "audience", "recurrence",
                  "run_at", "weekdays", "cron", "enabled", "last_fired_at", "next_runs"]
        read_only_fields = ["id", "enabled", "last_fired_at", "next_runs"]

    def get_next_runs(self, obj: Schedule) -> list[str]:
        return [d.isoformat() for d in schedules.next_runs(obj, 5)]


class ScheduleViewSet(TeamScopedMixin, mixins.CreateModelMixin, mixins.ListModelMixin,
                      mixins.RetrieveModelMixin, mixins.UpdateModelMixin, mixins.DestroyModelMixin,
                      viewsets.GenericViewSet):
    """SOP (定时消息): a message sent once at a time or on a recurrence; DELETE cancels it."""

    serializer_class = ScheduleSerializer
    scoped_model = Schedule
    queryset = Schedule.objects.none()
    parser_classes = [JSONParser]

    def _save(self, serializer, instance: Schedule | None = None) -> Schedule:
        data = dict(serializer.validated_data)
        team = self.get_team()
        account = _account(team, data.pop("account_id", None) or (instance and instance.account_id))
        try:
            return schedules.save_schedule(team=team, user=self.request.user, account=account,
                                           instance=instance, **data)
        except validation.Invalid as exc:
            raise _invalid(exc) from None

    def perform_create(self, serializer):
        serializer.instance = self._save(serializer)

    def perform_update(self, serializer):
        serializer.instance = self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        schedules.cancel(instance)
        instance.delete()


def register(router) -> None:
    """Add the messaging endpoints to the project's API router."""
    router.register("message-templates", TemplateViewSet, basename="message-template")
    router.register("message-uploads", UploadViewSet, basename="message-upload")
    router.register("message-jobs", JobViewSet, basename="message-job")
    router.register("message-schedules", ScheduleViewSet, basename="message-schedule")
