"""Settings for the test suite: the ordinary settings with ATOM_ENV forced to "test".

Services stay switched by the environment (DATABASE_URL, REDIS_URL), so the same suite runs embedded
on a laptop and against PostgreSQL and Redis in CI. Everything a test run writes (SQLite test
database, filesystem broker, cache keys, Celery queue) is private to its process, so two runs on one
machine never see each other; a worker started by a test inherits these values explicitly.
"""

import os
from pathlib import Path

os.environ["ATOM_ENV"] = "test"
_run = f"test-{os.getpid()}"
os.environ.setdefault("ATOM_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / _run))
os.environ.setdefault("ATOM_CACHE_PREFIX", f"atom-{_run}")
os.environ.setdefault("ATOM_CELERY_QUEUE", f"atom-{_run}")
# The webhook tests' receiver listens on this one loopback address; every other private address stays refused.
os.environ.setdefault("ATOM_NOTIFY_ALLOWED_HOSTS", "127.0.0.2")
os.environ.setdefault("ATOM_NOTIFY_BACKOFF_SECONDS", "1")

from atom.settings import *  # noqa: E402,F403
