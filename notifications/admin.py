"""Notifications in the admin: channels and subscriptions (the ``manage_channels`` permission), and the
delivery log, read-only, where failures show with their attempts, last error and response code."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from atom.admin import ReadOnlyAdminMixin
from atom.errors import DomainError
from atom.permissions import actor_may
from notifications.models import Channel, Delivery, DeliveryStatus, EventKind, Notification, Subscription
from notifications.services.channels import channel_save, channel_validate, events_validate, subscription_save

MANAGE = "notifications.manage_channels"


class EventsField(forms.MultipleChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=EventKind.choices, required=False, widget=forms.CheckboxSelectMultiple, **kwargs)


class ChannelForm(forms.ModelForm):  # type: ignore[type-arg]
    events = EventsField(help_text="None checked: every event.")
    url = forms.URLField(
        max_length=500, required=False, assume_scheme="https", help_text="Webhooks: an http or https URL on a public address."
    )

    class Meta:
        model = Channel
        fields = ["name", "project", "kind", "emails", "url", "secret", "events", "active"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        channel = Channel(**{name: data.get(name) for name in ("kind", "emails", "url", "secret")})
        channel.emails = channel.emails or ""
        channel.url = channel.url or ""
        channel.events = list(data.get("events") or [])
        try:
            channel_validate(channel)
        except DomainError as exc:
            raise ValidationError(exc.message) from None
        return data


class SubscriptionForm(forms.ModelForm):  # type: ignore[type-arg]
    events = EventsField()

    class Meta:
        model = Subscription
        fields = ["user", "events", "email"]

    def clean_events(self) -> list[str]:
        try:
            return events_validate(list(self.cleaned_data.get("events") or []))
        except DomainError as exc:
            raise ValidationError(exc.message) from None


class ManagedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Every change needs ``notifications.manage_channels``; staff status grants nothing."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return actor_may(request.user, MANAGE) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return actor_may(request.user, MANAGE)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return actor_may(request.user, MANAGE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return actor_may(request.user, MANAGE)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return actor_may(request.user, MANAGE) or super().has_module_permission(request)


@admin.register(Channel)
class ChannelAdmin(ManagedAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "project", "target", "active"]
    list_filter = ["kind", "active", "project"]
    list_select_related = ["project"]

    @admin.display(description="to")
    def target(self, channel: Channel) -> str:
        return channel.emails if channel.kind == Channel.Kind.EMAIL else channel.url

    def save_model(self, request: HttpRequest, obj: Channel, form: Any, change: bool) -> None:
        channel_save(channel=obj)


@admin.register(Subscription)
class SubscriptionAdmin(ManagedAdmin):
    form = SubscriptionForm
    list_display = ["user", "email", "events"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]

    def save_model(self, request: HttpRequest, obj: Subscription, form: Any, change: bool) -> None:
        subscription_save(subscription=obj)


class FailedFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("failures", "Failed or refused"), ("waiting", "Pending or retrying")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "failures":
            return queryset.filter(status__in=(DeliveryStatus.FAILED, DeliveryStatus.REFUSED))
        if self.value() == "waiting":
            return queryset.filter(status__in=(DeliveryStatus.PENDING, DeliveryStatus.RETRYING))
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """The delivery log: every notification to every target, failures first to the eye."""

    list_display = ["id", "created_at", "event", "transport", "target", "status", "attempts", "response_code", "last_error_short"]
    list_filter = [FailedFilter, "status", "transport"]
    list_select_related = ["notification"]
    search_fields = ["target", "notification__object_key", "last_error"]
    show_full_result_count = False

    @admin.display(description="event")
    def event(self, delivery: Delivery) -> str:
        return f"{delivery.notification.kind} · {delivery.notification.object_key}"

    @admin.display(description="last error")
    def last_error_short(self, delivery: Delivery) -> str:
        return delivery.last_error[:120]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "created_at", "kind", "object_key", "trigger", "title"]
    list_filter = ["kind"]
    search_fields = ["object_key", "title"]
    show_full_result_count = False
