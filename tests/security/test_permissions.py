"""The permission matrix: every API operation (from the OpenAPI schema) × every role × own
team's object vs another team's, and every console URL with an object id × another team's id.

Expected: another team's object → 404 (a manager-only operation answers a member 403 first);
a role below the operation's → 403; otherwise 2xx. Anonymous → 401. A new endpoint is
covered as soon as it is routed; one with a request body (or a required query) fails here
until it has an entry in ``BODIES``/``QUERIES``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from mediabao.accounts import services as accounts
from mediabao.accounts.models import Role
from mediabao.messaging.models import Recipient, SendJob
from tests.security.world import World, basename, png

ROLES = [Role.OWNER, Role.ADMIN, Role.MEMBER]
# Operations only owners and admins may call (everything else: any member of the team).
MANAGER_ONLY = [("POST", "/api/v1/accounts/"), ("*", "/api/v1/invitations/"), ("*", "/api/v1/audit-entries/")]


@dataclass
class Ctx:
    world: World  # the world whose ids go into the URL/body (own or the other team's)
    sim: Any


def _file(name: str, data: bytes, kind: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=kind)


def _account_body(c: Ctx) -> dict:
    mp = c.sim.create_account(name="新号", encrypt_mode="safe")
    return {"appid": mp["appid"], "appsecret": mp["secret"], "token": mp["token"],
            "encoding_aes_key": mp["encoding_aes_key"], "name": "新号"}


def _activity_body(c: Ctx) -> dict:
    now = timezone.localtime()
    return {"name": "新活动", "start_time": (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
            "end_time": (now + timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S"),
            "accounts": [c.world.ids["account"]], "join_keyword": "新海报", "rules": "规则",
            "tier1_invites": "2", "tier1_prize": "杯子",
            "poster_background": _file("bg.png", png(), "image/png")}


def _schedule_body(c: Ctx) -> dict:
    return {"account": c.world.ids["account"], "name": "早报", "kind": "template", "recurrence": "daily",
            "run_at": (timezone.now() + timedelta(days=1)).isoformat(),
            "message": {"template": c.world.ids["message-template"], "data": {"keyword1": "A"}},
            "audience": {"type": "window"}}


JOB = {"kind": "custom", "message": {"msgtype": "text", "text": {"content": "你好"}},
       "audience": {"type": "all"}}
# Bodies that refer to no object (nothing of another team to put in them).
UNSCOPED = {"POST /api/v1/accounts/", "POST /api/v1/invitations/", "POST /api/v1/tokens/"}
# "METHOD path" -> (body, format) from the ids of the world in the context.
BODIES: dict[str, Callable[[Ctx], tuple[Any, str]]] = {
    "POST /api/v1/accounts/": lambda c: (_account_body(c), "json"),
    "POST /api/v1/activities/": lambda c: (_activity_body(c), "multipart"),
    "PUT /api/v1/activities/{id}/": lambda c: ({"name": "改名"}, "json"),
    "PATCH /api/v1/activities/{id}/": lambda c: ({"name": "改名"}, "json"),
    "POST /api/v1/channels/": lambda c: ({"account": c.world.ids["account"], "name": "新码"}, "json"),
    "PUT /api/v1/channels/{id}/": lambda c: ({"name": "改名"}, "json"),
    "PATCH /api/v1/channels/{id}/": lambda c: ({"note": "备注"}, "json"),
    "POST /api/v1/fan-syncs/": lambda c: ({"account": c.world.ids["account"]}, "json"),
    "POST /api/v1/invitations/": lambda c: ({"role": "member"}, "json"),
    "POST /api/v1/keyword-rules/": lambda c: ({"account": c.world.ids["account"], "keyword": "新词",
                                               "text": "回复"}, "json"),
    "PUT /api/v1/keyword-rules/{id}/": lambda c: ({"account": c.world.ids["account"], "keyword": "新词",
                                                   "text": "回复"}, "json"),
    "PATCH /api/v1/keyword-rules/{id}/": lambda c: ({"text": "新回复"}, "json"),
    "POST /api/v1/message-jobs/": lambda c: ({"account": c.world.ids["account"], **JOB, "draft": True},
                                             "json"),
    "POST /api/v1/message-jobs/audience-size/": lambda c: ({"account": c.world.ids["account"], **JOB},
                                                           "json"),
    "POST /api/v1/message-schedules/": lambda c: (_schedule_body(c), "json"),
    "PUT /api/v1/message-schedules/{id}/": lambda c: (_schedule_body(c), "json"),
    "PATCH /api/v1/message-schedules/{id}/": lambda c: ({"name": "晚报"}, "json"),
    "POST /api/v1/message-templates/sync/": lambda c: ({"account": c.world.ids["account"]}, "json"),
    "POST /api/v1/message-templates/{id}/preview/": lambda c: ({"data": {"keyword1": "A"}}, "json"),
    "POST /api/v1/message-uploads/": lambda c: (
        {"account": c.world.ids["account"], "file": _file("a.png", png(40, 40), "image/png")}, "multipart"),
    "POST /api/v1/reward-codes/": lambda c: ({"tier": c.world.ids["tier"], "codes": "A1\nA2"}, "json"),
    "PUT /api/v1/reward-claims/{id}/": lambda c: ({"shipped": True}, "json"),
    "PATCH /api/v1/reward-claims/{id}/": lambda c: ({"shipped": True}, "json"),
    "POST /api/v1/tokens/": lambda c: ({"name": "脚本"}, "json"),
}
# "METHOD path" -> query referring to the world's objects (required ones, and filters).
QUERIES: dict[str, Callable[[Ctx], dict]] = {
    "GET /api/v1/channels/budget/": lambda c: {"account": c.world.ids["account"]},
    "GET /api/v1/reward-codes/": lambda c: {"activity": c.world.ids["activity"]},
    "GET /api/v1/stats/daily/": lambda c: {"account": c.world.ids["account"]},
    "GET /api/v1/accounts/{id}/events/": lambda c: {},
}


def _prepare(key: str, world: World) -> None:
    """Put the object in a state where the operation can succeed (inside the rolled-back block)."""
    job = SendJob.objects.get(pk=world.ids["message-job"])
    if key == "POST /api/v1/message-jobs/{id}/pause/":
        SendJob.objects.filter(pk=job.pk).update(state=SendJob.State.RUNNING, started_at=timezone.now())
    elif key == "POST /api/v1/message-jobs/{id}/retry/":
        SendJob.objects.filter(pk=job.pk).update(state=SendJob.State.DONE, finished_at=timezone.now())
        Recipient.objects.create(job=job, openid="o-failed", state=Recipient.State.FAILED, errcode=45047)


def _manager_only(method: str, path: str) -> bool:
    return any(m in ("*", method) and path.startswith(prefix) for m, prefix in MANAGER_ONLY)


def _operations(client) -> list[tuple[str, str, dict]]:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    return [(method.upper(), path, op) for path, ops in schema["paths"].items()
            for method, op in ops.items() if method in ("get", "post", "put", "patch", "delete")]


def _call(client: APIClient, method: str, url: str, body: Any, fmt: str, query: dict,
          prepare: Callable[[], None] | None = None):
    """One request whose writes are rolled back, so every cell sees the same world."""
    with transaction.atomic():
        if prepare:
            prepare()
        if query:
            url = f"{url}?{'&'.join(f'{k}={v}' for k, v in query.items())}"
        if method == "GET":
            response = client.get(url)
        else:
            if isinstance(body, dict):  # fresh file objects for every request
                body = {k: (_file(v.name, v.file.getvalue(), v.content_type)
                            if isinstance(v, SimpleUploadedFile) else v) for k, v in body.items()}
            response = getattr(client, method.lower())(url, body, format=fmt)
        transaction.set_rollback(True)
    return response


def _ids_in(response) -> set[int]:
    try:
        data = response.json()
    except ValueError:
        return set()
    rows = data.get("results") if isinstance(data, dict) else data
    return {row.get("id") for row in rows or [] if isinstance(row, dict)}


def _cell(expected: str, status: int) -> bool:
    return {"2xx": 200 <= status < 300, "4xx": status in (400, 404)}.get(expected, str(status) == expected)


@pytest.mark.timeout(900)
def test_api_permission_matrix(world, other_world, sim, make_user, member_of, monkeypatch, capsys):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "1000000/min"})
    users = {Role.OWNER: world.owner}
    for role in (Role.ADMIN, Role.MEMBER):
        users[role] = make_user(f"{role}-user")
        member_of(users[role], world.team, role)
        accounts.switch_team(user=users[role], team_id=world.team.pk)
    clients, own_tokens = {}, {}
    for role, user in users.items():
        created = accounts.create_api_token(user=user, team=world.team, name=f"{role} matrix")
        clients[role] = APIClient()
        clients[role].credentials(HTTP_AUTHORIZATION=f"Token {created.key}")
        own_tokens[role] = accounts.create_api_token(user=user, team=world.team, name="to revoke").token.pk
    anonymous = APIClient()

    operations = _operations(anonymous)
    missing = [f"{m} {p}" for m, p, op in operations
               if ("requestBody" in op and op["requestBody"].get("required") and f"{m} {p}" not in BODIES)
               or (any(q.get("required") for q in op.get("parameters", []) if q["in"] == "query")
                   and f"{m} {p}" not in QUERIES)]
    assert not missing, f"add a body/query for the new operations: {missing}"

    rows, wrong = [], []
    for method, path, _op in operations:
        key = f"{method} {path}"
        kind = basename(path)
        manager_only = _manager_only(method, path)
        has_id = "{id}" in path
        cells = []
        for role in ROLES:
            for side, w in (("own", world), ("other", other_world)):
                ctx = Ctx(w, sim)
                if side == "other" and not has_id and key not in QUERIES and (
                        method != "GET" and (key not in BODIES or key in UNSCOPED)):
                    continue  # nothing of the other team to point at
                ids = dict(w.ids)
                if kind == "token" and side == "own":
                    ids["token"] = own_tokens[role]
                url = path.replace("{id}", str(ids.get(kind, 0)))
                body, fmt = BODIES[key](ctx) if key in BODIES else (None, "json")
                query = QUERIES[key](ctx) if key in QUERIES else {}
                prepare = (lambda k=key, wo=w: _prepare(k, wo)) if side == "own" else None
                response = _call(clients[role], method, url, body, fmt, query, prepare)
                if manager_only and role == Role.MEMBER:
                    expected = "403"
                elif side == "own":
                    expected = "2xx"
                elif has_id:
                    expected = "404"
                elif method == "GET" and key not in QUERIES:
                    expected = "2xx"  # a list (or /me/): none of the other team's rows
                    theirs = w.ids.get(kind)
                    if theirs in _ids_in(response):
                        wrong.append(f"{key} as {role}: lists the other team's #{theirs}")
                else:
                    expected = "4xx"  # another team's id in the body or query: 400 or 404
                ok = _cell(expected, response.status_code)
                if ok and expected == "403":
                    ok = response.json().get("code") == "permission_denied"
                if ok and expected == "404":
                    ok = response.json().get("code") == "not_found"
                cells.append(f"{role[:5]}/{side}={response.status_code}{'' if ok else '!'}")
                if not ok:
                    wrong.append(f"{key} as {role} on {side}: {response.status_code} (expected {expected}) "
                                 f"{response.content[:200]!r}")
        anon = _call(anonymous, method, path.replace("{id}", str(world.ids.get(kind, 0))), None, "json", {})
        cells.append(f"anon={anon.status_code}{'' if anon.status_code == 401 else '!'}")
        if anon.status_code != 401:
            wrong.append(f"{key} anonymous: {anon.status_code}")
        rows.append(f"  {key:<55} {'manager' if manager_only else 'member '} {' '.join(cells)}")

    with capsys.disabled():
        print(f"\npermission matrix: {len(operations)} operations × {len(ROLES)} roles × own/other team, "
              f"+ anonymous; {len(wrong)} unexpected")
        print("\n".join(rows))
        for line in wrong:
            print("  !!", line)
    assert not wrong


# --- console pages -------------------------------------------------------------------------
# URL name -> kind of object its <int:pk> is (other int parameters: ``PARAMS``).
CONSOLE_KINDS = {
    "accounts:invitation_revoke": "invitation", "accounts:member_role": "member",
    "accounts:member_remove": "member", "accounts:token_revoke": "token",
    "wechat:events": "account", "web:account_detail": "account", "fans:sync_progress": "fan-sync",
    "keywords:edit": "keyword-rule", "keywords:delete": "keyword-rule",
    "messaging:job": "message-job", "messaging:job_row": "message-job",
    "messaging:job_progress": "message-job",
    "messaging:job_export": "message-job", "messaging:job_action": "message-job",
    "messaging:schedule_edit": "message-schedule", "messaging:schedule_cancel": "message-schedule",
    "channels:detail": "channel", "channels:edit": "channel", "channels:archive": "channel",
    "channels:qr": "channel", "channels:stats_csv": "channel",
    "campaigns:detail": "activity", "campaigns:edit": "activity", "campaigns:preview": "activity",
    "campaigns:rewards_csv": "activity", "campaigns:codes_import": "activity",
    "campaigns:rehearsal": "activity",
    "campaigns:rehearsal_run": "activity", "campaigns:rehearsal_progress": "activity",
    "campaigns:rehearsal_stop": "activity", "campaigns:reward_shipped": "reward-claim",
    "campaigns:participant": "participant", "campaigns:reviewed": "participant",
    "campaigns:blacklist": "participant",
}
PARAMS = {"account_id": "account", "run": None, "action": "pause", "kind": "png"}
CONSOLE_PREFIXES = ("console/", "accounts/")


def _console_patterns() -> list[tuple[str, str]]:
    found = []

    def walk(resolver, prefix: str, namespace: str) -> None:
        for p in resolver.url_patterns:
            if isinstance(p, URLResolver):
                walk(p, prefix + str(p.pattern), p.namespace or namespace)
            elif isinstance(p, URLPattern) and "<int:" in str(p.pattern):
                route = prefix + str(p.pattern)
                if route.startswith(CONSOLE_PREFIXES):
                    found.append((f"{namespace}:{p.name}", route))

    walk(get_resolver(), "", "")
    return found


def test_console_urls_with_another_teams_ids_are_404(world, other_world, client, capsys):
    client.force_login(world.owner)
    patterns = _console_patterns()
    unmapped = [name for name, route in patterns
                if name not in CONSOLE_KINDS and set(re.findall(r"<int:(\w+)>", route)) - set(PARAMS)]
    assert not unmapped, f"map the new console URLs in CONSOLE_KINDS: {unmapped}"
    rows, wrong = [], []
    for name, route in patterns:
        def value(match: re.Match, w: World) -> str:
            param = match.group(2)
            if param == "pk":
                return str(w.ids[CONSOLE_KINDS[name]])
            mapped = PARAMS[param]
            return str(w.ids[mapped]) if mapped in w.ids else str(mapped or 1)

        url = "/" + re.sub(r"<(\w+):(\w+)>", lambda m: value(m, other_world), route)
        response = _call(client, "GET", url, None, "", {})
        if response.status_code == 405:
            response = _call(client, "POST", url, {}, "multipart", {})
        rows.append(f"  {name:<32} {url:<52} {response.status_code}")
        if response.status_code != 404:
            wrong.append(rows[-1])
    with capsys.disabled():
        print(f"\nconsole URLs with another team's ids: {len(patterns)} patterns, {len(wrong)} not 404")
        print("\n".join(rows))
    assert not wrong
