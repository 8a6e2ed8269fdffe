"""The API's shared conventions: schema, offline docs, errors, pagination, request ids."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_openapi_schema_lists_the_v1_endpoints(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/v1/me/", "/api/v1/accounts/", "/api/v1/tokens/", "/api/v1/members/"):
        assert path in paths


def test_swagger_ui_is_served_offline(client):
    page = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn" not in page.lower()
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_unknown_api_path_is_json_404(api):
    response = api.get("/api/v1/does-not-exist/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_pagination_shape(api):
    body = api.get("/api/v1/members/?page_size=1").json()
    assert set(body) >= {"count", "next", "previous", "results"}


def test_bad_page_number_is_404_json_not_500(api):
    response = api.get("/api/v1/members/?page=9999")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_request_id_is_echoed_and_generated(api):
    response = api.get("/api/v1/me/", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    generated = APIClient().get("/api/v1/me/")
    assert len(generated["X-Request-ID"]) == 32
    assert generated.json()["request_id"] == generated["X-Request-ID"]


def test_forged_request_id_is_replaced(api):
    response = api.get("/api/v1/me/", HTTP_X_REQUEST_ID="<script>alert(1)</script>")
    assert response["X-Request-ID"] != "<script>alert(1)</script>"


def test_forms_validate_against_querysets_narrowed_after_init(team_a, team_b):
    """Regression: the Bootstrap mixin must not validate before a form narrows its choices."""
    from mediabao.keywords.forms import KeywordRuleForm
    from mediabao.wechat.models import OfficialAccount

    other = OfficialAccount.objects.create(team=team_b, appid="wxforms00000000001", name="B")
    form = KeywordRuleForm({"account": other.pk, "keyword": "k", "match": "exact",
                            "reply_type": "text", "text": "x", "position": 1},
                           accounts=OfficialAccount.objects.for_team(team_a))
    assert not form.is_valid() and "account" in form.errors
    assert "is-invalid" in form.fields["account"].widget.attrs["class"]


def test_openapi_schema_validates_without_warnings(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/v1/fans/" in out.read_text()
