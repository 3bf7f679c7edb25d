"""The operator console: the admin's dashboard and the commands that span every app (demo data, admin user).

It sits on top of the domain apps and reads them through their selectors and services; no app imports it.
"""

from __future__ import annotations

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Operator console"
