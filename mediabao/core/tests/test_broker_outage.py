"""A task published during a short broker outage is delivered (found by the deployment scenario).

The scenario restarts Redis mid-campaign (down ~1.3 s); with Celery's default publish retry
(~0.6 s) the callbacks' ``on_commit`` ``.delay()`` calls failed and their notices and posters
were never sent.
"""

from __future__ import annotations

import subprocess
import threading
import time

import redis
from celery import Celery
from django.conf import settings

from mediabao.embedded import free_port, redis_bin


def test_a_task_published_while_redis_restarts_reaches_the_queue(tmp_path):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    app = Celery(set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = url
    started: list[subprocess.Popen] = []

    def start_redis_later() -> None:
        time.sleep(1.5)  # the broker is down for 1.5 s after the first attempt
        started.append(subprocess.Popen([redis_bin(), "--port", str(port), "--bind", "127.0.0.1",
                                         "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    thread = threading.Thread(target=start_redis_later)
    thread.start()
    try:
        t0 = time.monotonic()
        app.send_task("mediabao.core.ping", args=["outage", "ok"], queue="outage-test")
        assert time.monotonic() - t0 < 5  # within WeChat's callback limit
        assert redis.Redis.from_url(url).llen("outage-test") == 1
    finally:
        thread.join()
        for proc in started:
            proc.terminate()
            proc.wait(10)
    assert settings.CELERY_TASK_PUBLISH_RETRY_POLICY["max_retries"] >= 5
