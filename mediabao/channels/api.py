"""REST API of promo channels (推广码): CRUD, archive/restore, stats, QR images, budget.

Validation is the console's forms (:mod:`mediabao.channels.forms`), so both refuse the
same input with the same messages. An ``account`` in a body that is not the team's is a
field error (400, the same answer as for an id that does not exist); an id in the URL
of another team's channel is a 404.
"""

from __future__ import annotations

import json

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from mediabao.channels import qr, selectors, services
from mediabao.channels.forms import ChannelCreateForm, ChannelEditForm, ChannelFilterForm, StatsRangeForm
from mediabao.channels.models import Channel
from mediabao.channels.views import qr_response
from mediabao.core.api import TeamScopedMixin
from mediabao.core.tenancy import get_for_team_or_404
from mediabao.wechat.models import OfficialAccount


class ChannelSerializer(serializers.ModelSerializer):
    account = serializers.IntegerField(source="account_id")
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    counts = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = ["id", "account", "name", "note", "scene_str", "ticket", "url", "archived",
                  "created_by", "created_at", "counts"]
        read_only_fields = fields

    def get_counts(self, obj: Channel) -> dict:
        counts = self.context.get("counts", {}).get(obj.pk) or selectors.counts_for([obj.pk])[obj.pk]
        return {"new": counts.new, "following": counts.following, "unfollowed": counts.unfollowed,
                "scans": counts.scans}


class ChannelCreateSerializer(serializers.Serializer):
    """Schema only: the console's form does the validating."""

    account = serializers.IntegerField()
    name = serializers.CharField(max_length=60)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)


class ChannelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=60, required=False)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)


class _Image(renderers.BaseRenderer):
    """Lets clients ask for images; errors still go out as the API's JSON body."""

    charset = None
    format = "image"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode()


class PNGRenderer(_Image):
    media_type = "image/png"


class SVGRenderer(_Image):
    media_type = "image/svg+xml"


def _form_errors(form) -> ValidationError:
    return ValidationError({name: [e["message"] for e in errors]
                            for name, errors in form.errors.get_json_data().items()})


def _data(request) -> dict:
    """The body as form data: a JSON object of scalars, or form fields."""
    data = request.data
    if not hasattr(data, "items"):
        raise ValidationError({"non_field_errors": [_("Send a JSON object.")]})
    if not isinstance(data, dict):  # a QueryDict (form or multipart body)
        return data
    bad = [k for k, v in data.items() if isinstance(v, (list, dict))]
    if bad:
        raise ValidationError({k: [_("Send a single value.")] for k in bad})
    return {k: "" if v is None else v for k, v in data.items()}


FILTERS = [OpenApiParameter("q", str, description="name contains"), OpenApiParameter("account", int),
           OpenApiParameter("archived", str, enum=["0", "1", "all"], description="default 0 (active)")]
RANGE = [OpenApiParameter("start", OpenApiTypes.DATE), OpenApiParameter("end", OpenApiTypes.DATE)]


@extend_schema_view(list=extend_schema(parameters=FILTERS))
class ChannelViewSet(TeamScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     viewsets.GenericViewSet):
    serializer_class = ChannelSerializer
    scoped_model = Channel
    queryset = Channel.objects.none()

    def get_base_queryset(self):
        return Channel.objects.select_related("created_by")

    def get_queryset(self):
        if self.action != "list":
            return super().get_queryset()
        team = self.get_team()
        form = ChannelFilterForm(self.request.query_params, accounts=OfficialAccount.objects.for_team(team))
        return selectors.channels(team, form.to_filter())

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        # An error is the API's JSON body, labelled as JSON, even when an image was asked for.
        self.request.accepted_renderer = renderers.JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return response

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        counts = selectors.counts_for([c.pk for c in page])
        data = ChannelSerializer(page, many=True, context={**self.get_serializer_context(), "counts": counts})
        return self.get_paginated_response(data.data)

    @extend_schema(request=ChannelCreateSerializer, responses={201: ChannelSerializer})
    def create(self, request, *args, **kwargs):
        form = ChannelCreateForm(_data(request), team=self.get_team())
        if not form.is_valid():
            raise _form_errors(form)
        try:
            channel = services.create_channel(account=form.cleaned_data["account"],
                                              name=form.cleaned_data["name"],
                                              note=form.cleaned_data["note"], user=request.user)
        except services.ChannelError as exc:
            raise ValidationError({exc.field or "non_field_errors": [exc.message]}) from exc
        return Response(ChannelSerializer(channel).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ChannelUpdateSerializer, responses=ChannelSerializer)
    def partial_update(self, request, *args, **kwargs):
        channel = self.get_object()
        data = _data(request)
        form = ChannelEditForm({"name": data.get("name", channel.name),
                                "note": data.get("note", channel.note)}, channel=channel)
        if not form.is_valid():
            raise _form_errors(form)
        services.update_channel(channel, name=form.cleaned_data["name"], note=form.cleaned_data["note"])
        return Response(ChannelSerializer(channel).data)

    @extend_schema(request=ChannelUpdateSerializer, responses=ChannelSerializer)
    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(request=None, responses=ChannelSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        """Hide the channel; its printed code keeps attributing follows."""
        return Response(ChannelSerializer(services.set_archived(self.get_object(), True)).data)

    @extend_schema(request=None, responses=ChannelSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        return Response(ChannelSerializer(services.set_archived(self.get_object(), False)).data)

    @extend_schema(parameters=RANGE, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        """By day over ``start``..``end`` (default: the last 30 days; at most 366 days)."""
        channel = self.get_object()
        form = StatsRangeForm(request.query_params)
        if not form.is_valid():
            raise _form_errors(form)
        st = selectors.stats(channel, form.cleaned_data["start"], form.cleaned_data["end"])

        def row(d: selectors.DayRow) -> dict:
            return {"new": d.new, "unfollowed": d.unfollowed, "net": d.net, "retained": d.retained,
                    "scans": d.scans}

        return Response({
            "channel": channel.pk, "start": st.start, "end": st.end,
            "days": [{"day": d.day, **row(d)} for d in st.days],
            "totals": row(st.totals),
            "all_time": {"new": st.all_time.new, "following": st.all_time.following,
                         "unfollowed": st.all_time.unfollowed, "scans": st.all_time.scans},
        })

    @extend_schema(parameters=[OpenApiParameter("kind", str, enum=["png", "svg"]),
                               OpenApiParameter("size", int, enum=[*qr.SIZES])],
                   responses={(200, "image/png"): OpenApiTypes.BINARY,
                              (200, "image/svg+xml"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"],
            renderer_classes=[renderers.JSONRenderer, PNGRenderer, SVGRenderer])
    def qr(self, request, pk=None):
        """The QR image drawn from the code's url (an attachment named after the channel)."""
        kind = request.query_params.get("kind", "png")
        if kind not in ("png", "svg"):
            raise ValidationError({"kind": [_("Choose png or svg.")]})
        size = request.query_params.get("size")
        if size not in (None, "") and size not in {str(s) for s in qr.SIZES}:
            sizes = ", ".join(map(str, qr.SIZES))
            raise ValidationError({"size": [_("Choose one of %(sizes)s.") % {"sizes": sizes}]})
        return qr_response(self.get_object(), kind, request.query_params)

    @extend_schema(parameters=[OpenApiParameter("account", int, required=True)],
                   responses=OpenApiTypes.OBJECT)
    @action(detail=False, methods=["get"])
    def budget(self, request):
        """The account's permanent-code budget: used, cap, remaining."""
        try:
            account_id = int(request.query_params.get("account", ""))
        except ValueError as exc:
            raise ValidationError({"account": [_("Give an account id.")]}) from exc
        account = get_for_team_or_404(OfficialAccount, self.get_team(), pk=account_id)
        return Response({"account": account.pk, **services.budget(account)})
