"""The Celery application: Redis broker, DB-backed beat, a heartbeat for /healthz, and
leases on the broker messages a worker holds."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time

from celery import Celery
from celery.signals import worker_ready, worker_shutdown
from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import base as kombu_virtual

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediabao.settings")

app = Celery("mediabao")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "mediabao:worker-heartbeat:{}"
WORKERS_KEY = "mediabao:workers"
_stop = threading.Event()


def _beat_loop(hostname: str) -> None:
    """Write a short-lived key so /healthz can tell a live worker from a dead one."""
    from django.conf import settings
    from django.core.cache import cache

    interval = settings.WORKER_HEARTBEAT_SECONDS
    while not _stop.is_set():
        try:
            cache.set(HEARTBEAT_KEY.format(hostname), "alive", timeout=interval * 3)
            # Names seen recently; a worker silent for an hour is forgotten.
            now = time.time()
            seen = cache.get(WORKERS_KEY) or {}
            seen = {name: at for name, at in seen.items() if now - at < 3600} | {hostname: now}
            cache.set(WORKERS_KEY, seen, timeout=None)
        except Exception:  # noqa: BLE001,S110 - Redis down: health shows it, the worker keeps going
            pass
        _stop.wait(interval)


def held_delivery_tags() -> list[str]:
    """Delivery tags of the messages this worker holds: reserved, running, or waiting for
    their ETA. A request the consumer dropped (it forgets its reserved messages when the
    broker connection drops) or finished is no longer among them."""
    from celery.worker import state

    for _ in range(3):  # the consumer thread changes these sets; try again on a clash
        try:
            held = [*state.requests.values(), *state.scheduled_requests]
            break
        except RuntimeError:
            time.sleep(0.01)
    else:
        return []
    tags = {getattr(getattr(req, "message", None), "delivery_tag", None) for req in held}
    return sorted(tag for tag in tags if tag)


def renew_leases(client, index_key: str, tags: list[str], now: float | None = None) -> int:
    """Push the restore deadline of ``tags`` forward: kombu's ``unacked_index`` scores each
    message with the time it was taken, and restores it once that is older than the
    visibility timeout. ``XX`` only updates members that exist, so a message acknowledged
    or restored meanwhile is not brought back. Returns how many were renewed."""
    if not tags:
        return 0
    now = time.time() if now is None else now
    return int(client.zadd(index_key, dict.fromkeys(tags, now), xx=True, ch=True) or 0)


#: Acknowledgements that hit a broker outage: (unacked_index key, unacked key, tag), sent
#: again by the lease keeper. Without this the message of a task that had finished was
#: restored by the sweep and the task ran a second time (a join card sent twice).
_pending_acks: set[tuple[str, str, str]] = set()
_pending_lock = threading.Lock()


def defer_ack(index_key: str, hash_key: str, tag: str) -> None:
    with _pending_lock:
        _pending_acks.add((index_key, hash_key, tag))


def flush_pending_acks(client) -> int:
    """Acknowledge what an outage kept from being acknowledged. Returns how many."""
    with _pending_lock:
        pending = list(_pending_acks)
    if not pending:
        return 0
    pipe = client.pipeline()
    for index_key, hash_key, tag in pending:
        pipe.zrem(index_key, tag).hdel(hash_key, tag)
    pipe.execute()
    with _pending_lock:
        _pending_acks.difference_update(pending)
    log.info("acknowledged %d message(s) whose acknowledgement had hit a broker outage", len(pending))
    return len(pending)


def _lease_loop(interval: float) -> None:
    """Renew this worker's messages every ``interval`` seconds (sooner while acknowledgements
    wait), on a broker connection of its own (the consumer's is not thread-safe and is gone
    while it reconnects)."""
    conn = None
    while not _stop.wait(min(interval, 2.0) if _pending_acks else interval):
        tags = held_delivery_tags()
        if not tags and not _pending_acks:
            continue
        try:
            if conn is None:
                conn = app.connection_for_write()
            channel = conn.default_channel
            with channel.conn_or_acquire() as client:
                flush_pending_acks(client)
                renew_leases(client, channel.unacked_index_key, tags)
        except Exception:  # noqa: BLE001 - broker down: nobody can restore meanwhile either
            log.debug("could not renew broker leases", exc_info=True)
            if conn is not None:
                with contextlib.suppress(Exception):  # a dead connection, dropped anyway
                    conn.release()
            conn = None
    if conn is not None:
        conn.release()


def lease_interval() -> float:
    """A tenth of the visibility timeout: ten renewals may be missed before a message
    held by a live worker is delivered a second time."""
    timeout = float(app.conf.broker_transport_options.get("visibility_timeout", 3600))
    return max(1.0, timeout / 10)


@worker_ready.connect
def _start_heartbeat(sender=None, **kwargs) -> None:
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    threading.Thread(target=_beat_loop, args=(hostname,), daemon=True, name="heartbeat").start()
    threading.Thread(target=_lease_loop, args=(lease_interval(),), daemon=True,
                     name="broker-leases").start()


@worker_shutdown.connect
def _stop_heartbeat(**kwargs) -> None:
    _stop.set()


# --- The Redis transport, hardened for a broker restart -----------------------------------
# When the broker connection drops, Celery closes the consumer's channel and kombu "restores"
# every message the worker had taken: the running ones too (they are then run a second
# time, concurrently), and through a channel whose connection Celery has already detached,
# which raises ``AttributeError: 'NoneType' object has no attribute 'hostname'`` out of the
# worker ("Unrecoverable error", exit 1, its running tasks killed). A task that finishes
# after the reconnect is acknowledged through that same detached channel and fails the
# same way. The QoS below keeps the messages of requests the worker still knows out of
# the restore (running ones are renewed by the lease keeper and acknowledged when they
# finish; the ones Celery drops are no longer renewed and come back through kombu's restore
# sweep within the visibility timeout), leaves the rest to that sweep too when the channel
# cannot reach Redis any more, and acknowledges through a fresh connection when the
# channel's own is gone.


def _shutting_down() -> bool:
    """The worker was told to stop (warm or cold): kombu's restore at close is right then."""
    from celery.worker import state

    return state.should_stop not in (None, False) or state.should_terminate not in (None, False)


class LeasedQoS(kombu_redis.QoS):
    def _detached(self) -> bool:
        transport = getattr(self.channel, "connection", None)
        return transport is None or getattr(transport, "client", None) is None

    def restore_unacked(self, client=None):
        if not _shutting_down():
            # A lost connection, not a shutdown: requests the worker still knows may be
            # running already (a pool process can start a task before the consumer hears of
            # it), and restoring them now would run them twice at once. Running ones stay
            # renewed and are acknowledged when done; the ones Celery drops after the
            # reconnect are no longer renewed and come back through the restore sweep.
            for tag in held_delivery_tags():
                self._delivered.pop(tag, None)
        if self._detached():
            if self._delivered:
                log.warning("broker connection lost: %d unacknowledged message(s) left for the "
                            "restore sweep (back within the visibility timeout)", len(self._delivered))
            self._delivered.clear()
            return []
        return super().restore_unacked(client)

    def ack(self, delivery_tag):
        try:
            if not self._detached():
                return super().ack(delivery_tag)
            with app.connection_for_write() as conn:
                channel = conn.default_channel
                with channel.conn_or_acquire() as client:
                    client.pipeline().zrem(self.unacked_index_key, delivery_tag) \
                        .hdel(self.unacked_key, delivery_tag).execute()
        except self.channel.connection_errors:
            # The broker is restarting: the lease keeper acknowledges it once it is back,
            # long before the restore sweep would hand the finished task out again.
            log.warning("broker unreachable: acknowledgement of %s deferred", delivery_tag)
            defer_ack(self.unacked_index_key, self.unacked_key, delivery_tag)
        return kombu_virtual.QoS.ack(self, delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        if not self._detached():
            return super().reject(delivery_tag, requeue=requeue)
        if not requeue:
            return self.ack(delivery_tag)
        # No longer held, not renewed: the restore sweep puts it back in the queue.
        return kombu_virtual.QoS.ack(self, delivery_tag)


class LeasedChannel(kombu_redis.Channel):
    QoS = LeasedQoS


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport with :class:`LeasedQoS` (settings: ``CELERY_BROKER_TRANSPORT``)."""

    Channel = LeasedChannel
