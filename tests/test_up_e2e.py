"""``mediabao up`` as a user runs it: real processes, embedded servers, a real browser.

Starts the whole platform in a fresh data folder, logs in with the printed demo login
in Debian's Chromium (screenshot under var/screenshots/), sends a task through the
real broker to the real worker, then checks that Ctrl-C leaves no process behind and
that a new ``up`` works after a ``kill -9``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from mediabao.embedded import free_port
from mediabao.testing.browser import launch

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


class Up:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "REDIS_URL", "MEDIABAO_CACHE_PREFIX", "MEDIABAO_TASK_QUEUE")}
        self.wxsim_port = free_port()
        env.update(MEDIABAO_DATA_DIR=str(data_dir), WXSIM_PORT=str(self.wxsim_port), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mediabao.cli", "up", "--port", str(port)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self.output: list[str] = []
        self.login: tuple[str, str] | None = None

    def wait_ready(self, timeout: float = 150) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    break
                continue
            self.output.append(line)
            match = re.search(r"Demo login \(shown once\): (\S+) / (\S+)", line)
            if match:
                self.login = (match.group(1), match.group(2))
            if "Stop: Ctrl-C" in line:
                return
        raise AssertionError("mediabao up did not get ready:\n" + "".join(self.output[-40:]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return []

    def finish(self, timeout: float = 60) -> str:
        rest, _ = self.proc.communicate(timeout=timeout)
        return "".join(self.output) + rest


def processes_using(data_dir: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline[:160]}")
    return found


def healthz(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("up") / "var"
    up = Up(data_dir, free_port())
    up.wait_ready()
    yield up
    if up.proc.poll() is None:
        up.proc.send_signal(signal.SIGINT)
        up.finish()


def test_up_prints_the_demo_login_and_is_healthy(platform):
    assert platform.login and platform.login[0] == "demo"
    status, body = healthz(platform.url)
    assert status == 200, body
    assert {name: c["status"] for name, c in body["components"].items()} == {
        "database": "ok", "redis": "ok", "broker": "ok", "worker": "ok"}
    # the sandbox authorized a demo account through the simulated third-party platform
    assert any("Sandbox: 媒体宝演示号" in line for line in platform.output), platform.output
    # the simulator runs as the default WeChat
    sim = next(line for line in platform.output if "WeChat simulator" in line).split()[-1]
    with urllib.request.urlopen(sim, timeout=5) as response:
        assert response.status == 200


def test_demo_login_works_in_chromium(platform):
    from playwright.sync_api import sync_playwright

    shots = ROOT / "var" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page(locale="zh-CN")
            page.goto(f"{platform.url}/console/")
            assert "/accounts/login/" in page.url
            page.fill("input[name=username]", platform.login[0])
            page.fill("input[name=password]", "wrong-password")
            page.click("#login-submit")
            assert page.locator(".alert-danger").count() == 1
            page.fill("input[name=username]", platform.login[0])
            page.fill("input[name=password]", platform.login[1])
            page.click("#login-submit")
            page.wait_for_url(f"{platform.url}/console/")
            assert page.locator("[data-count=accounts]").inner_text() == "1"
            # the demo account's 300 followers arrive through the worker's sync
            for _ in range(60):
                page.goto(f"{platform.url}/console/fans/")
                if "300" in page.inner_text("#fan-count"):
                    break
                time.sleep(1)
            assert "300" in page.inner_text("#fan-count")
            page.goto(f"{platform.url}/console/")
            page.screenshot(path=str(shots / "console-dashboard.png"), full_page=True)
            # Swagger UI renders offline under the strict CSP (no inline scripts, no CDN)
            page.goto(f"{platform.url}/api/docs/")
            page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
            assert "MediaBao API" in page.inner_text(".swagger-ui .info .title")
            page.goto(f"{platform.url}/console/")
            page.click("#user-menu")
            page.click("#logout")
            page.wait_for_url(re.compile(r".*/accounts/login/.*"))
        finally:
            browser.close()
    assert (shots / "console-dashboard.png").stat().st_size > 10_000


def test_a_task_goes_through_the_real_broker_to_the_real_worker(platform):
    import redis
    from celery import Celery

    state = json.loads((platform.data_dir / "run" / "redis.json").read_text())
    app = Celery(broker=state["url"], set_as_current=False)  # keep the suite's own app current
    app.send_task("mediabao.core.ping", args=["e2e-ping", "pong-42"], queue="mediabao")
    client = redis.Redis.from_url(state["url"])
    deadline = time.monotonic() + 30
    found = []
    while time.monotonic() < deadline and not found:
        found = [k for k in client.scan_iter("mb*e2e-ping")]
        time.sleep(0.2)
    assert found, "the worker did not run the task"


def test_follows_and_unfollows_reach_the_fan_table_through_the_real_worker(platform):
    """The gateway answers a follow at once and the worker handles it right after
    (wechat.processing): the fan's row follows the fan's actions, in order."""
    import psycopg

    from wxsim.testing import SimClient

    pg = json.loads((platform.data_dir / "run" / "postgres.json").read_text())
    with psycopg.connect(pg["url"], autocommit=True) as conn:
        appid = conn.execute("SELECT appid FROM wechat_officialaccount ORDER BY id LIMIT 1").fetchone()[0]
        sim = SimClient(f"http://127.0.0.1:{platform.wxsim_port}")
        fans = sim.create_fans(appid, 3, following=False)
        for openid in fans:
            assert sim.fan_subscribe(appid, openid)["status"] == "ok"
        assert sim.fan_unsubscribe(appid, fans[0])["status"] == "ok"

        def state():
            return dict(conn.execute(
                "SELECT f.openid, f.subscribed FROM fans_fan f JOIN wechat_officialaccount a "
                "ON a.id = f.account_id WHERE a.appid = %s AND f.openid = ANY(%s)", [appid, fans]).fetchall())

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and state() != {fans[0]: False, fans[1]: True, fans[2]: True}:
            time.sleep(0.2)
        assert state() == {fans[0]: False, fans[1]: True, fans[2]: True}
        assert conn.execute("SELECT count(*) FROM wechat_event WHERE pending").fetchone()[0] == 0


def _web_children(up_pid: int) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(up_pid).children():
        try:
            if "gunicorn" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # a zombie not yet reaped by up
            pass
    return found


def test_a_dead_child_is_restarted(platform):
    up_pid = platform.proc.pid
    web = _web_children(up_pid)
    assert len(web) == 1
    web[0].kill()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fresh = _web_children(up_pid)
        if fresh and fresh[0].pid != web[0].pid:
            try:
                if healthz(platform.url)[0] == 200:
                    return
            except OSError:
                pass
        time.sleep(0.5)
    raise AssertionError("the web server was not restarted")


def test_ctrl_c_leaves_no_process_behind_and_kill_9_then_up_again_works(platform, tmp_path):
    children = platform.descendants()
    assert len(children) >= 5  # postgres, redis, web, worker, beat (+ their pools)
    platform.proc.send_signal(signal.SIGINT)
    output = platform.finish()
    assert platform.proc.returncode == 0, output
    assert "MediaBao stopped." in output
    psutil.wait_procs(children, timeout=10)
    assert processes_using(platform.data_dir) == []
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)

    # kill -9 of up: the children die with it (parent-death signal) or are cleaned up next time
    first = Up(platform.data_dir, platform.port)
    first.wait_ready()
    assert first.login is None  # the demo login is printed only once
    os.kill(first.proc.pid, signal.SIGKILL)
    first.proc.wait(10)
    second = Up(platform.data_dir, platform.port)
    try:
        second.wait_ready()
        status, body = healthz(second.url)
        assert status == 200, body
    finally:
        second.proc.send_signal(signal.SIGINT)
        second.finish()
    assert second.proc.returncode == 0
    time.sleep(1)
    assert processes_using(platform.data_dir) == []
