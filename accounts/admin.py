"""The users' admin, with "sign out everywhere": Django's own user admin plus one action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import services
from atom.admin import permission_check

User = get_user_model()


class AtomUserAdmin(UserAdmin):  # type: ignore[type-arg]
    actions = ["sign_out_everywhere"]

    has_sign_out_users_permission = permission_check("accounts.sign_out_users")

    @admin.action(description="Sign out everywhere (revoke every token)", permissions=["sign_out_users"])
    def sign_out_everywhere(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        users = list(queryset)
        for user in users:
            services.user_sign_out_everywhere(user=user)
        self.message_user(request, f"{len(users)} user(s) signed out everywhere.")


admin.site.unregister(User)
admin.site.register(User, AtomUserAdmin)
