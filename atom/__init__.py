"""Atom: governed AI agents and the production-hardening loop, as one Django service."""

from atom.celery import app as celery_app

__all__ = ["celery_app"]
