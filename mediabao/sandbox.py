"""The sandbox that ``mediabao up`` prepares when WeChat is the simulator.

A demo third-party platform (component) is registered in wxsim with credentials kept
under ``<data>/secrets`` (so restarts reuse them), and, on a first run, a demo service
account with a few hundred fans is authorized through the real component flow to the
demo team and its followers are synced — the console is useful at once.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import string
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("mediabao.up")

DEMO_ACCOUNT_NAME = "媒体宝演示号"
DEMO_FANS = 300
_ALNUM = string.ascii_letters + string.digits


def component_credentials(data_dir: Path) -> dict[str, str]:
    """The demo component's appid, secret, token and EncodingAESKey (made once)."""
    path = data_dir / "secrets" / "sandbox-component.json"
    if path.exists():
        return json.loads(path.read_text())
    creds = {
        "WECHAT_COMPONENT_APPID": "wx" + secrets.token_hex(8),
        "WECHAT_COMPONENT_SECRET": secrets.token_hex(16),
        "WECHAT_COMPONENT_TOKEN": "".join(secrets.choice(_ALNUM) for _ in range(32)),
        "WECHAT_COMPONENT_AES_KEY": "".join(secrets.choice(_ALNUM) for _ in range(43)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh)
    return creds


def prepare(sim_url: str) -> str | None:
    """Register the component (again) and, on first run, the demo account; returns its name."""
    from django.conf import settings

    from mediabao.accounts.models import Team, User
    from mediabao.fans import services as fans
    from mediabao.fans.tasks import sync_fans
    from mediabao.wechat import component
    from mediabao.wechat.models import OfficialAccount
    from wxsim.testing import SimClient, SimError

    sim = SimClient(sim_url)
    cappid = settings.WECHAT_COMPONENT_APPID
    base = settings.PUBLIC_BASE_URL
    try:
        sim.create_component(
            component_appid=cappid, component_appsecret=settings.WECHAT_COMPONENT_SECRET,
            token=settings.WECHAT_COMPONENT_TOKEN, encoding_aes_key=settings.WECHAT_COMPONENT_AES_KEY,
            ticket_url=f"{base}/wechat/component/notify/", msg_url=f"{base}/wechat/callback/$APPID$/",
            name="媒体宝沙箱第三方平台", push_ticket=True)
    except SimError as exc:
        if exc.status != 409:
            raise
        sim.push_ticket(cappid)  # known from the simulator's saved state: a fresh ticket
    demo_user = User.objects.filter(username=settings.DEMO_USERNAME).first()
    team = demo_user.current_team if demo_user else Team.objects.order_by("id").first()
    if team is None or OfficialAccount.objects.filter(team=team).exists():
        return None
    mp = sim.create_account(name=DEMO_ACCOUNT_NAME, type="service", verified=True,
                            encrypt_mode="safe")
    sim.create_fans(mp["appid"], DEMO_FANS)
    login_page = urlsplit(component.authorize_url(f"{base}/wechat/component/return/"))
    params = {k: v[0] for k, v in parse_qs(login_page.query).items()}
    location = sim.authorize_component(cappid, mp["appid"], pre_auth_code=params["pre_auth_code"],
                                       redirect_uri=params["redirect_uri"])["location"]
    auth_code = parse_qs(urlsplit(location).query)["auth_code"][0]
    account = component.complete_authorization(team, auth_code)
    sync, created = fans.start_sync(account)
    if created:
        sync_fans.delay(sync.pk)
    log.info("sandbox: %s authorized to %s with %d fans", account.name, team.name, DEMO_FANS)
    return account.name
