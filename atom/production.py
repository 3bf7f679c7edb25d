"""Start-up refusals: the configurations Atom will not run with.

Settings call these before Django finishes loading, so a misconfigured deployment stops at once with
every problem listed instead of serving traffic half-protected.
"""

from __future__ import annotations

from typing import Any

DEFAULT_SECRET_KEY = "django-insecure-atom-development-only-change-me"  # noqa: S105 - the marker we refuse
DEFAULT_JWT_SIGNING_KEY = "atom-development-only-jwt-signing-key-change-me"
MIN_SIGNING_KEY_BYTES = 32
MAX_ACCESS_TOKEN_MINUTES = 15
SHARED_CACHE_BACKENDS = ("atom.cache.RedisCache", "django.core.cache.backends.redis.RedisCache")


def jwt_problems(*, secret_key: str, signing_key: str, rotate: bool, blacklist_installed: bool, access_minutes: int) -> list[str]:
    """Problems with the token set-up that no environment may run with."""
    problems: list[str] = []
    if not signing_key:
        problems.append("ATOM_JWT_SIGNING_KEY is missing.")
    elif signing_key == secret_key:
        problems.append("ATOM_JWT_SIGNING_KEY must differ from DJANGO_SECRET_KEY.")
    elif len(signing_key.encode()) < MIN_SIGNING_KEY_BYTES:
        problems.append(f"ATOM_JWT_SIGNING_KEY must be at least {MIN_SIGNING_KEY_BYTES} bytes.")
    if rotate and not blacklist_installed:
        problems.append("Refresh-token rotation needs rest_framework_simplejwt.token_blacklist installed.")
    if access_minutes > MAX_ACCESS_TOKEN_MINUTES:
        problems.append(f"ATOM_JWT_ACCESS_MINUTES must be at most {MAX_ACCESS_TOKEN_MINUTES}.")
    return problems


def production_problems(*, debug: bool, secret_key: str, signing_key: str, database_engine: str, caches: dict[str, Any]) -> list[str]:
    """Problems that are tolerable on a laptop but refused when ATOM_ENV=production."""
    problems: list[str] = []
    if debug:
        problems.append("DJANGO_DEBUG must be off.")
    if not secret_key or secret_key == DEFAULT_SECRET_KEY or len(secret_key) < 50:
        problems.append("DJANGO_SECRET_KEY must be set to a random value of at least 50 characters.")
    if signing_key == DEFAULT_JWT_SIGNING_KEY:
        problems.append("ATOM_JWT_SIGNING_KEY must be set (the development key is refused).")
    if database_engine.endswith("sqlite3"):
        problems.append("DATABASE_URL must point at PostgreSQL (SQLite is for the embedded mode only).")
    for alias, config in caches.items():
        if config["BACKEND"] not in SHARED_CACHE_BACKENDS:
            problems.append(f"Cache {alias!r} must be shared between processes: set REDIS_URL.")
    return problems
