"""``/api/v1/reward-codes/``: imported redemption-code pools of award tiers.

``GET ?activity=<id>``: per tier, codes imported, available and prize winners waiting.
``POST`` JSON ``{"tier": <id>, "codes": "A1\\nA2" | ["A1", "A2"]}`` or multipart with
``tier`` and ``file`` (text/CSV, first column): adds the codes (deduplicated; blank and
bad lines reported), serves waiting winners and answers the report (201).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from mediabao.campaigns import codes
from mediabao.campaigns.models import Activity, AwardTier
from mediabao.core.api import request_team
from mediabao.core.tenancy import get_for_team_or_404


class CodeImportSerializer(serializers.Serializer):
    tier = serializers.IntegerField(help_text="Award tier id")
    codes = serializers.JSONField(required=False, help_text="A text with one code per line, or a list")
    file = serializers.FileField(required=False, help_text="Text or CSV (first column), at most 2 MB")


class PoolSerializer(serializers.Serializer):
    tier = serializers.IntegerField()
    level = serializers.IntegerField()
    prize = serializers.CharField()
    imported = serializers.IntegerField()
    available = serializers.IntegerField()
    waiting = serializers.IntegerField()


class ReportSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    blank = serializers.IntegerField()
    bad = serializers.IntegerField()
    bad_lines = serializers.ListField(child=serializers.DictField())
    available = serializers.IntegerField()
    served = serializers.IntegerField()


def _pools(activity: Activity) -> list[dict]:
    return [{"tier": p.tier.pk, "level": p.tier.level, "prize": p.tier.prize, "imported": p.total,
             "available": p.free, "waiting": p.waiting} for p in codes.pools(activity)]


class RewardCodePoolViewSet(viewsets.ViewSet):
    """Redemption-code pools per award tier (奖品兑换码)."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(parameters=[OpenApiParameter("activity", int, required=True)],
                   responses=PoolSerializer(many=True))
    def list(self, request):
        value = request.query_params.get("activity", "")
        if not value.isdigit():
            raise ValidationError({"activity": ["Enter a whole number."]})
        activity = get_for_team_or_404(Activity, request_team(request), pk=int(value))
        return Response(_pools(activity))

    @extend_schema(request=CodeImportSerializer, responses={201: ReportSerializer})
    def create(self, request):
        data = CodeImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tier = get_for_team_or_404(AwardTier, request_team(request), pk=data.validated_data["tier"])
        upload = data.validated_data.get("file")
        raw = data.validated_data.get("codes")
        try:
            if upload is not None:
                if upload.size > codes.MAX_IMPORT_BYTES:
                    limit = codes.MAX_IMPORT_BYTES // 2**20
                    raise codes.ImportRefused(f"The file is larger than {limit} MB.")
                text = codes.decode(upload.read())
            elif isinstance(raw, list) and all(isinstance(v, str) for v in raw):
                text = "\n".join(v.replace("\n", " ") for v in raw)
            elif isinstance(raw, str):
                text = raw
            else:
                raise ValidationError({"codes": ["Give a text, a list of strings or a file."]})
            if not text.strip():
                raise ValidationError({"codes": ["No codes given."]})
            report = codes.import_codes(tier, text)
        except codes.ImportRefused as exc:
            raise ValidationError({"codes": [str(exc)]}) from exc
        return Response(report.as_dict(), status=status.HTTP_201_CREATED)
