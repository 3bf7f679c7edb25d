"""App config for the project package (commands, checks and templates live here)."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core import checks


class AtomConfig(AppConfig):
    name = "atom"
    verbose_name = "Atom platform"

    def ready(self) -> None:
        checks.register(embedded_cache_check, checks.Tags.caches)


def embedded_cache_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Say at start-up that the embedded cache is not shared beyond this machine."""
    if settings.SHARED_CACHE or settings.TESTING or not apps.ready:
        return []
    return [
        checks.Warning(
            "Embedded mode: the cache (rate limits, governance decisions) is a file cache shared only by "
            "the processes of this machine, and its rate-limit counts are approximate under races.",
            hint="Set REDIS_URL for a shared, atomic cache; ATOM_ENV=production refuses to start without it.",
            id="atom.W001",
        )
    ]
