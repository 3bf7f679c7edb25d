"""Who hears about what, and the record of every notification sent.

A notification is one event, made unique by (kind, object, trigger) in the database, so a scan or a task
that runs twice never tells anyone twice. Each of its deliveries (a channel, or a user's e-mail) is one
row too, unique per notification and target, with its attempts, last error and response code.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


class EventKind(models.TextChoices):
    BUG_OPENED = "bug_opened", "A P0 or P1 bug opened"
    SLA_DUE_SOON = "sla_due_soon", "An SLA due within hours"
    SLA_BREACHED = "sla_breached", "An SLA breached"
    REGRESSION_REOPENED = "regression_reopened", "A regression reopened"
    FLAKY_DETECTED = "flaky_detected", "A flaky test detected"
    PROPOSAL_WAITING = "proposal_waiting", "A proposal waiting too long"
    RUN_ERRORED = "run_errored", "A run errored"
    RUN_STUCK = "run_stuck", "A run stuck"
    MENTION = "mention", "Mentioned in a comment"


def webhook_secret_new() -> str:
    return secrets.token_urlsafe(32)


class Channel(models.Model):
    """Where a project's events go: a list of e-mail addresses, a generic JSON webhook or a Slack-compatible
    one. A channel without a project hears every project's events (and those that belong to none)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook (generic JSON)"
        SLACK = "slack", "Webhook (Slack-compatible)"

    name = models.CharField(max_length=100)
    project = models.ForeignKey("bugs.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    emails = models.TextField(blank=True, help_text="E-mail channels: addresses, one per line or comma-separated.")
    url = models.URLField(max_length=500, blank=True, help_text="Webhooks: an http or https URL on a public address.")
    secret = models.CharField(
        max_length=200, default=webhook_secret_new, help_text="Signs each webhook body (X-Atom-Signature, HMAC-SHA256)."
    )
    events = models.JSONField(default=list, blank=True, help_text="Event kinds this channel hears; empty means all.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [("manage_channels", "Can manage notification channels and others' subscriptions")]
        constraints = [
            models.CheckConstraint(condition=~Q(kind="email") | ~Q(emails=""), name="notifications_email_channel_has_addresses"),
            models.CheckConstraint(condition=Q(kind="email") | ~Q(url=""), name="notifications_webhook_channel_has_url"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class Subscription(models.Model):
    """The events one user hears by e-mail (mentions are always told, unless e-mail is off)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    events = models.JSONField(default=list, blank=True, help_text="Event kinds this user hears.")
    email = models.BooleanField(default=True, help_text="Send these events (and mentions) to the user's e-mail address.")

    def __str__(self) -> str:
        return f"Subscription of user {self.user_id}"


class Notification(models.Model):
    """One event, told once: (kind, object, trigger) is unique, e.g. (sla_due_soon, bug:BUG-001, the due time)."""

    kind = models.CharField(max_length=32, choices=EventKind.choices)
    object_key = models.CharField(max_length=200)
    trigger = models.CharField(max_length=200)
    project_id_ref = models.BigIntegerField(null=True, blank=True, help_text="The project the event belongs to, if any.")
    title = models.CharField(max_length=300)
    text = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["kind", "object_key", "trigger"], name="notifications_one_per_event")]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_key} ({self.trigger})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    REFUSED = "refused", "Refused"


class Delivery(models.Model):
    """One notification to one target: a channel, or a user by e-mail. The admin's delivery log."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # "channel:<id>" or "user:<id>": what makes a delivery unique for its notification.
    target_key = models.CharField(max_length=64)
    transport = models.CharField(max_length=8, choices=Channel.Kind.choices)
    # Text, not a bounded column: an e-mail channel's list of addresses has no fixed length.
    target = models.TextField(help_text="The addresses or the URL, as they were when the event happened.")
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["notification", "target_key"], name="notifications_one_delivery_per_target")]

    def __str__(self) -> str:
        return f"{self.notification_id} → {self.target_key} ({self.status})"
