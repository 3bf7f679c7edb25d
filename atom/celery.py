"""The Celery application.

Defaults follow one rule: a task may be delivered twice and a worker may die at any moment. So tasks
are acknowledged late and rejected back to the queue when their worker is lost, a worker holds one
message at a time, and hard time limits stay below the broker's visibility timeout so a message is
never redelivered while its first run is still alive.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pybreaker
from celery import Celery
from celery.contrib.django.task import DjangoTask
from kombu.exceptions import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "atom.settings")

T = TypeVar("T")


class BrokerUnavailable(OperationalError):
    """A task was not sent: the broker or the result store is unreachable, or the breaker is open.

    A kombu OperationalError, so every caller that already answers 503 for a broker outage keeps doing so.
    """


def _is_connection_failure(exc: BaseException) -> bool:
    """True when ``exc``, or an exception that caused it, is a failure to reach the broker or result store.

    Celery's Redis result store reports an exhausted reconnect as a bare RuntimeError caused by the
    connection error, hence the walk down the chain.
    """
    import redis.exceptions

    failures = (OperationalError, OSError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, failures):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@functools.cache
def send_breaker() -> pybreaker.CircuitBreaker:
    """The process's circuit breaker for task sends (SPEC section 3: outbound calls are bounded).

    After ``ATOM_BROKER_BREAKER_FAILURES`` failed sends in a row it opens: sends fail at once, without
    touching the network, for ``ATOM_BROKER_BREAKER_RESET_SECONDS``; then one send is tried again.
    Only connection failures count; any other error passes through untouched.
    """
    from django.conf import settings

    return pybreaker.CircuitBreaker(
        fail_max=settings.ATOM_BROKER_BREAKER_FAILURES,
        reset_timeout=settings.ATOM_BROKER_BREAKER_RESET_SECONDS,
        exclude=[lambda exc: not isinstance(exc, BrokerUnavailable)],
        name="broker",
    )


_sending = threading.local()


def task_send(send: Callable[[], T], *, what: str) -> T:
    """Run ``send`` (a delay, apply_async or chord) through the breaker; raise BrokerUnavailable on failure.

    A send made while another is in progress on this thread (a chord sending its header tasks) is part
    of the outer one and counted once.
    """
    if getattr(_sending, "active", False):
        return send()

    def guarded() -> T:
        _sending.active = True
        try:
            return send()
        except Exception as exc:
            if _is_connection_failure(exc):
                raise BrokerUnavailable(f"Could not send {what}: {type(exc).__name__}.") from exc
            raise
        finally:
            _sending.active = False

    try:
        return send_breaker().call(guarded)
    except pybreaker.CircuitBreakerError as exc:
        raise BrokerUnavailable(f"Not sending {what}: the task queue failed repeatedly and is left alone for a while.") from exc


class GuardedTask(DjangoTask[Any, Any]):
    """The base of every Atom task (Celery's Django task, so ``delay_on_commit`` too): sending goes through :func:`task_send`."""

    def apply_async(self, *args: Any, **kwargs: Any) -> Any:
        if self.app.conf.task_always_eager:
            return super().apply_async(*args, **kwargs)
        return task_send(lambda: super(GuardedTask, self).apply_async(*args, **kwargs), what=self.name)


app = Celery("atom", task_cls=GuardedTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_track_started=True,
    result_expires=24 * 3600,
    broker_connection_retry_on_startup=True,
    broker_connection_timeout=4,
    worker_hijack_root_logger=False,
    timezone="UTC",
)
app.autodiscover_tasks()


def _connect_signals() -> None:
    """Every task sent carries its send time (the age of the oldest queued task); workers beat."""
    from celery import signals

    from atom.queues import sent_at_stamp
    from atom.workers import heartbeat_start, heartbeat_stop

    signals.before_task_publish.connect(sent_at_stamp, weak=False)
    signals.worker_ready.connect(heartbeat_start, weak=False)
    signals.worker_shutdown.connect(heartbeat_stop, weak=False)


_connect_signals()
