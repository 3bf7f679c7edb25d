"""Ensure an admin account exists (used by `make run`)."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create the superuser ADMIN (default 'admin') if it does not exist. The password comes from "
        "ATOM_ADMIN_PASSWORD, or is generated and printed once. An existing account is left as it is."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default=os.environ.get("ATOM_ADMIN_USERNAME", "admin"))
        parser.add_argument("--email", default=os.environ.get("ATOM_ADMIN_EMAIL", "admin@localhost"))

    def handle(self, *args: Any, username: str, email: str, **options: Any) -> None:
        if not username:
            raise CommandError("The admin username must not be empty.")
        user_model = get_user_model()
        if user_model.objects.filter(username=username).exists():
            self.stdout.write(f"Admin user {username!r} already exists; password unchanged.")
            return
        password = os.environ.get("ATOM_ADMIN_PASSWORD") or secrets.token_urlsafe(18)
        user_model.objects.create_superuser(username=username, email=email, password=password)
        if os.environ.get("ATOM_ADMIN_PASSWORD"):
            self.stdout.write(self.style.SUCCESS(f"Created admin user {username!r} with the password from ATOM_ADMIN_PASSWORD."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Created admin user {username!r} with password: {password}"))
            self.stdout.write("This password is shown only once; set ATOM_ADMIN_PASSWORD to choose your own.")
