"""OpenAPI post-processing: every operation documents the API's error answers.

drf-spectacular documents only the success response; the error body (see
:mod:`mediabao.core.api`) can come from any operation: 400 (invalid body or query), 401 (no
or bad token), 403 (role), 404 (unknown id, or another team's), 415 (body type), 429
(throttled).
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "description": "The API's one error format.",
    "properties": {
        "code": {"type": "string", "description": "stable, for scripts (invalid, not_found, throttled…)"},
        "message": {"type": "string", "description": "for people, translated"},
        "fields": {"type": "object", "additionalProperties": True,
                   "description": "per-field errors (code invalid only)"},
        "request_id": {"type": "string", "nullable": True},
    },
    "required": ["code", "message"],
}

ERRORS = {
    "400": "Invalid request (see `fields`).",
    "401": "Not authenticated.",
    "403": "Not allowed for your role.",
    "404": "Not found (or another team's).",
    "429": "Too many requests; see the Retry-After header.",
}
METHODS = {"get", "post", "put", "patch", "delete"}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            codes = dict(ERRORS)
            if "requestBody" in operation:
                codes["415"] = "Unsupported body media type."
            for code, description in codes.items():
                responses.setdefault(code, {"description": description, "content": body})
    return result
