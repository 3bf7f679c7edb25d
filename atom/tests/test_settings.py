"""Settings come from the environment, fail loudly on bad values, and refuse unsafe production set-ups."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from atom.env import env_bool, env_choice, env_int, env_list
from atom.production import DEFAULT_JWT_SIGNING_KEY, DEFAULT_SECRET_KEY, jwt_problems, production_problems

BASE_DIR = Path(settings.BASE_DIR)
REDIS_CACHE = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}
STRONG_SECRET = secrets.token_urlsafe(64)
STRONG_SIGNING_KEY = secrets.token_urlsafe(48)


def production_env(**overrides: str) -> dict[str, str]:
    """A complete, valid production environment (nothing in it is contacted by `check`)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ATOM_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env.update(
        {
            "ATOM_ENV": "production",
            "DJANGO_SETTINGS_MODULE": "atom.settings",
            "DJANGO_SECRET_KEY": STRONG_SECRET,
            "ATOM_JWT_SIGNING_KEY": STRONG_SIGNING_KEY,
            "DATABASE_URL": "postgresql://atom@127.0.0.1:5432/atom",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "DJANGO_ALLOWED_HOSTS": "atom.example.com",
            "ATOM_VAR_DIR": str(settings.VAR_DIR / "production"),
        }
    )
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, check=False)


def test_env_helpers_name_the_variable_on_bad_values(monkeypatch):
    monkeypatch.setenv("ATOM_X", "twelve")
    with pytest.raises(ImproperlyConfigured, match="ATOM_X must be an integer"):
        env_int("ATOM_X", 1)
    monkeypatch.setenv("ATOM_X", "maybe")
    with pytest.raises(ImproperlyConfigured, match="ATOM_X must be a boolean"):
        env_bool("ATOM_X")
    monkeypatch.setenv("ATOM_X", "staging")
    with pytest.raises(ImproperlyConfigured, match="ATOM_X must be one of"):
        env_choice("ATOM_X", "development", ("development", "production"))
    monkeypatch.setenv("ATOM_X", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("ATOM_X", 5, minimum=1)


def test_env_helpers_read_good_values(monkeypatch):
    monkeypatch.setenv("ATOM_X", " a, b ,,c ")
    assert env_list("ATOM_X") == ["a", "b", "c"]
    monkeypatch.setenv("ATOM_X", "Yes")
    assert env_bool("ATOM_X") is True
    monkeypatch.delenv("ATOM_X")
    assert env_int("ATOM_X", 7) == 7


@pytest.mark.parametrize(
    ("signing_key", "rotate", "blacklist", "minutes", "expected"),
    [
        ("", True, True, 10, "is missing"),
        ("same-as-secret-key-" + "x" * 40, True, True, 10, "must differ"),
        ("short-key", True, True, 10, "at least 32 bytes"),
        (STRONG_SIGNING_KEY, True, False, 10, "needs rest_framework_simplejwt.token_blacklist"),
        (STRONG_SIGNING_KEY, True, True, 16, "at most 15"),
    ],
)
def test_jwt_set_ups_that_never_start(signing_key, rotate, blacklist, minutes, expected):
    secret = "same-as-secret-key-" + "x" * 40
    problems = jwt_problems(
        secret_key=secret, signing_key=signing_key, rotate=rotate, blacklist_installed=blacklist, access_minutes=minutes
    )
    assert any(expected in problem for problem in problems), problems


def test_a_sound_jwt_set_up_has_no_problems():
    assert (
        jwt_problems(secret_key=STRONG_SECRET, signing_key=STRONG_SIGNING_KEY, rotate=True, blacklist_installed=True, access_minutes=15)
        == []
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"debug": True}, "DJANGO_DEBUG must be off"),
        ({"secret_key": DEFAULT_SECRET_KEY}, "DJANGO_SECRET_KEY"),
        ({"secret_key": "short"}, "DJANGO_SECRET_KEY"),
        ({"signing_key": DEFAULT_JWT_SIGNING_KEY}, "development key is refused"),
        ({"database_engine": "django.db.backends.sqlite3"}, "must point at PostgreSQL"),
        ({"caches": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}}, "must be shared"),
        ({"caches": {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache"}}}, "must be shared"),
    ],
)
def test_production_refuses_unsafe_set_ups(overrides, expected):
    arguments: dict[str, Any] = {
        "debug": False,
        "secret_key": STRONG_SECRET,
        "signing_key": STRONG_SIGNING_KEY,
        "database_engine": "django.db.backends.postgresql",
        "caches": REDIS_CACHE,
    }
    arguments.update(overrides)
    problems = production_problems(**arguments)
    assert any(expected in problem for problem in problems), problems


def test_production_with_no_configuration_refuses_to_start_listing_every_problem():
    env = production_env()
    for key in ("DJANGO_SECRET_KEY", "ATOM_JWT_SIGNING_KEY", "DATABASE_URL", "REDIS_URL"):
        env.pop(key)
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "Atom refuses to start" in result.stderr
    for fragment in ("ATOM_JWT_SIGNING_KEY is missing", "DJANGO_SECRET_KEY", "PostgreSQL", "REDIS_URL"):
        assert fragment in result.stderr
    assert "Traceback" not in result.stderr.split("Atom refuses to start")[-1]


def test_production_refuses_debug_and_a_signing_key_equal_to_the_secret():
    result = manage("check", env=production_env(DJANGO_DEBUG="1", ATOM_JWT_SIGNING_KEY=STRONG_SECRET))
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be off" in result.stderr
    assert "must differ from DJANGO_SECRET_KEY" in result.stderr


def test_a_bad_value_stops_start_up_naming_the_variable():
    result = manage("check", env=production_env(ATOM_JWT_ACCESS_MINUTES="soon"))
    assert result.returncode != 0
    assert "ATOM_JWT_ACCESS_MINUTES must be an integer" in result.stderr


@pytest.mark.regression("BUG-011", "BUG-017")
def test_check_deploy_is_clean_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_open_postgresql_connection_is_bounded_by_the_tcp_user_timeout_and_keepalives():
    code = "from django.conf import settings; o = settings.DATABASES['default']['OPTIONS']; print(o['tcp_user_timeout'], o['keepalives'])"
    result = manage("shell", "-c", code, env=production_env(ATOM_DB_TCP_USER_TIMEOUT_MS="7000"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["7000", "1"]


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_accepts_the_connection_options():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.connection.info.get_parameters()["tcp_user_timeout"] == str(
        settings.DATABASES["default"]["OPTIONS"]["tcp_user_timeout"]
    )


def test_the_browsable_api_is_off_in_production():
    code = "from django.conf import settings; print(settings.REST_FRAMEWORK['DEFAULT_RENDERER_CLASSES'])"
    result = manage("shell", "-c", code, env=production_env())
    assert result.returncode == 0, result.stderr
    assert "BrowsableAPIRenderer" not in result.stdout
    assert "JSONRenderer" in result.stdout


@pytest.mark.django_db
def test_a_foreign_host_header_is_refused(client, settings):
    settings.DEBUG = False
    response = client.get("/healthz", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BAD_REQUEST"


@pytest.mark.django_db
def test_security_headers_are_set(client):
    response = client.get("/healthz")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert len(response["X-Request-ID"]) >= 8


def test_numpy_thread_pools_follow_atom_numpy_threads():
    """A fresh process loading the settings, then numpy, runs BLAS on ATOM_NUMPY_THREADS threads."""
    env = {key: value for key, value in os.environ.items() if not key.endswith("_NUM_THREADS")}
    env.update({"ATOM_ENV": "test", "DJANGO_SETTINGS_MODULE": "atom.settings", "ATOM_NUMPY_THREADS": "1"})
    code = (
        "import django, os; django.setup(); import numpy; "
        "print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'], os.environ['MKL_NUM_THREADS'])"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=BASE_DIR, capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["1", "1", "1"]
    assert os.environ["OPENBLAS_NUM_THREADS"] == str(settings.ATOM_NUMPY_THREADS)
