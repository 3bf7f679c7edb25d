"""A real worker answers, configured as QUALITY part B asks; nothing runs for a rolled-back transaction."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import transaction

from atom.celery import app
from atom.tasks import ping
from atom.testing import script_json_output


def test_the_app_is_configured_for_at_least_once_delivery():
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert conf.task_soft_time_limit < conf.task_time_limit < visibility


def test_the_broker_follows_the_environment():
    expected = settings.REDIS_URL or "filesystem://"
    assert app.conf.broker_url.startswith(expected.split("/")[0])


@pytest.mark.django_db
def test_a_task_enqueued_in_a_rolled_back_transaction_never_runs(django_capture_on_commit_callbacks):
    def enqueue_then_fail() -> None:
        with transaction.atomic():
            ping.delay_on_commit()  # type: ignore[attr-defined]  # Celery 5.4+ API, missing from the stubs
            raise RuntimeError("roll back")

    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(RuntimeError):
        enqueue_then_fail()
    assert callbacks == []


@pytest.mark.worker
def test_a_real_worker_answers_ping(celery_worker_process):
    assert ping.delay().get(timeout=60) == "pong"
    assert celery_worker_process.poll() is None


@pytest.mark.worker
@pytest.mark.redis
def test_a_real_worker_answers_ping_over_redis(celery_worker_process):
    assert app.conf.broker_url.startswith("redis://")
    assert ping.delay().get(timeout=60) == "pong"


def test_the_breaker_counts_only_connection_failures_and_then_fails_without_sending(settings):
    from atom.celery import BrokerUnavailable, send_breaker, task_send

    settings.ATOM_BROKER_BREAKER_FAILURES, settings.ATOM_BROKER_BREAKER_RESET_SECONDS = 2, 60
    send_breaker.cache_clear()
    attempts: list[str] = []

    def refused() -> None:
        attempts.append("refused")
        raise ConnectionRefusedError("connection refused")

    def broken() -> None:
        attempts.append("broken")
        raise ValueError("a bug of the caller, not an outage")

    try:
        with pytest.raises(ValueError, match="a bug of the caller"):
            task_send(broken, what="broken")
        for _ in range(2):
            with pytest.raises(BrokerUnavailable, match=r"Could not send|failed repeatedly"):
                task_send(refused, what="refused")
        with pytest.raises(BrokerUnavailable, match="failed repeatedly"):
            task_send(refused, what="refused")
        assert attempts == ["broken", "refused", "refused"]  # the third send never reached the network
    finally:
        send_breaker.cache_clear()


# A Redis that refuses every connection until it is "healed", then forwards to the real one.
_RECOVERY_SCRIPT = """
import json, os, socket, threading, time
real = (os.environ["REAL_REDIS_HOST"], int(os.environ["REAL_REDIS_PORT"]))
healed = [False]
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(128)
def pipe(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        src.close(); dst.close()
def serve():
    while True:
        peer, _ = listener.accept()
        if not healed[0]:
            peer.close()
            continue
        upstream = socket.create_connection(real)
        threading.Thread(target=pipe, args=(peer, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, peer), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
url = "redis://127.0.0.1:%d/9" % listener.getsockname()[1]
os.environ["CELERY_BROKER_URL"] = os.environ["CELERY_RESULT_BACKEND"] = url
import django
django.setup()
from atom.tasks import ping
outcomes = []
def send():
    try:
        ping.delay()
        outcomes.append("sent")
    except Exception as exc:
        outcomes.append(type(exc).__name__)
for _ in range(3):
    send()
healed[0] = True
send()
time.sleep(1.3)
send()
print(json.dumps(outcomes))
"""


@pytest.mark.redis
def test_sends_recover_once_the_broker_is_back_and_the_breaker_pause_is_over(tmp_path):
    import uuid
    from urllib.parse import urlparse

    import redis

    real = urlparse(settings.REDIS_URL)
    queue = f"atom-breaker-{uuid.uuid4().hex[:8]}"
    try:
        outcomes = script_json_output(
            _RECOVERY_SCRIPT,
            timeout=60,
            ATOM_BROKER_BREAKER_FAILURES="2",
            ATOM_BROKER_BREAKER_RESET_SECONDS="1",
            ATOM_CELERY_QUEUE=queue,
            REAL_REDIS_HOST=real.hostname or "127.0.0.1",
            REAL_REDIS_PORT=str(real.port or 6379),
        )
        # Two refused sends open the breaker; the third and the one right after healing fail at once;
        # once the pause is over one send is tried again, and it goes through.
        assert outcomes == ["BrokerUnavailable"] * 4 + ["sent"], outcomes
    finally:
        client = redis.Redis(host=real.hostname or "127.0.0.1", port=real.port or 6379, db=9)
        client.delete(queue)
        for key in client.scan_iter("_kombu.binding.*"):
            members = [m for m in client.smembers(key) if queue.encode() in m]
            if members:
                client.srem(key, *members)
