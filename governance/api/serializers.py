"""Input and output serializers of the governance API. Inputs name only what a caller may set."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from rest_framework import serializers

from governance.models import ActionExecution, Agent, AuditEntry, Canvas, CanvasKind, Decision, Maturity, Proposal, SupervisionSession

MAX_PARAMS_BYTES = 64 * 1024


def _bounded_json(value: Any, *, depth: int = 0) -> None:
    """Refuse JSON nested deeper than 20 levels or holding NUL characters (PostgreSQL cannot store them)."""
    if depth > 20:
        raise serializers.ValidationError("Nested too deeply.")
    if isinstance(value, str):
        if "\x00" in value:
            raise serializers.ValidationError("Null characters are not allowed.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _bounded_json(key, depth=depth + 1)
            _bounded_json(item, depth=depth + 1)
    elif isinstance(value, list):
        for item in value:
            _bounded_json(item, depth=depth + 1)


class JsonObjectField(serializers.JSONField):
    """A JSON object (not a list or scalar), bounded in depth."""

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        _bounded_json(value)
        if len(json.dumps(value)) > MAX_PARAMS_BYTES:
            raise serializers.ValidationError(f"At most {MAX_PARAMS_BYTES} bytes of JSON.")
        return value


class AgentInputSerializer(serializers.Serializer[Any]):
    """The safe fields of an agent. Maturity, confidence, owner, state and budget are never accepted."""

    name = serializers.CharField(max_length=200)
    category = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    capabilities = serializers.ListField(child=serializers.CharField(max_length=100), max_length=50, required=False, default=list)

    def validate_name(self, value: str) -> str:
        # DRF's CharField already refuses NUL characters; JSON fields are checked by _bounded_json.
        value = value.strip()
        if not value:
            raise serializers.ValidationError("A name is required.")
        return value


class AgentOutputSerializer(serializers.ModelSerializer[Agent]):
    class Meta:
        model = Agent
        fields = [
            "id",
            "name",
            "category",
            "maturity",
            "confidence",
            "state",
            "budget",
            "daily_spend_cap",
            "capabilities",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ActionInputSerializer(serializers.Serializer[Any]):
    action = serializers.CharField(max_length=100)
    params = JsonObjectField(required=False, default=dict)
    cost = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0"), required=False, default=Decimal("0"))

    def validate_action(self, value: str) -> str:
        return value.strip().lower()


class ExecutionOutputSerializer(serializers.Serializer[ActionExecution]):
    """Declared field by field: it answers every executed action, and a ModelSerializer would rebuild its
    fields from the model on each response."""

    id = serializers.IntegerField(read_only=True)
    action = serializers.CharField(read_only=True)
    params = serializers.JSONField(read_only=True)
    cost = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)
    status = serializers.CharField(read_only=True)
    result = serializers.JSONField(read_only=True)
    proposal = serializers.IntegerField(source="proposal_id", read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)


class SupervisionOutputSerializer(serializers.ModelSerializer[SupervisionSession]):
    class Meta:
        model = SupervisionSession
        fields = ["id", "status", "opened_at", "closed_at"]
        read_only_fields = fields


class ProposalOutputSerializer(serializers.ModelSerializer[Proposal]):
    class Meta:
        model = Proposal
        fields = [
            "id",
            "agent",
            "action",
            "complexity",
            "params",
            "cost",
            "status",
            "review_reason",
            "failure_reason",
            "expires_at",
            "decided_at",
            "created_at",
        ]
        read_only_fields = fields


class ProposalDecisionInputSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class FeedbackInputSerializer(serializers.Serializer[Any]):
    positive = serializers.BooleanField()
    high_impact = serializers.BooleanField(required=False, default=False)
    guardrail_violation = serializers.BooleanField(required=False, default=False)
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class CanvasFieldsMixin(serializers.Serializer[Any]):
    """Adds the ``data`` input (a chart's JSON), whose name the Serializer class itself uses for output."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        fields["data"] = JsonObjectField(required=False)
        return fields


class CanvasInputSerializer(CanvasFieldsMixin):
    agent = serializers.IntegerField(min_value=1)
    kind = serializers.ChoiceField(choices=CanvasKind.choices)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    content = serializers.CharField(max_length=200_000, required=False, allow_blank=True, trim_whitespace=False)
    schema = JsonObjectField(required=False)


class CanvasUpdateInputSerializer(CanvasFieldsMixin):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    content = serializers.CharField(max_length=200_000, required=False, allow_blank=True, trim_whitespace=False)
    schema = JsonObjectField(required=False)


class CanvasScriptInputSerializer(serializers.Serializer[Any]):
    # The byte limit is the service's; this only bounds what is parsed.
    code = serializers.CharField(max_length=64 * 1024, allow_blank=True, trim_whitespace=False)


class CanvasOutputSerializer(serializers.ModelSerializer[Canvas]):
    class Meta:
        model = Canvas
        fields = ["id", "agent", "kind", "title", "content", "data", "script_hash", "created_at", "updated_at"]
        read_only_fields = fields


class AuditQuerySerializer(serializers.Serializer[Any]):
    """Filters of the audit list: indexed columns only, so each stays fast on millions of rows."""

    agent = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    action = serializers.CharField(max_length=100, required=False)
    outcome = serializers.ChoiceField(choices=Decision.choices, required=False)
    maturity = serializers.ChoiceField(choices=Maturity.choices, required=False)

    def validate_action(self, value: str) -> str:
        return value.strip().lower()


class AuditOutputSerializer(serializers.ModelSerializer[AuditEntry]):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "agent",
            "actor",
            "action",
            "complexity",
            "maturity",
            "confidence",
            "outcome",
            "reason",
            "cost",
            "request_id",
            "created_at",
        ]
        read_only_fields = fields

    def get_actor(self, entry: AuditEntry) -> str | None:
        return entry.actor.get_username() if entry.actor is not None else None


class AgentBriefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    maturity = serializers.CharField()
    confidence = serializers.CharField()


class ActionOutcomeOutputSerializer(serializers.Serializer[Any]):
    """The answer of a governed action (documentation of the 200 / 202 body)."""

    decision = serializers.ChoiceField(choices=["execute", "supervised", "proposal"])
    agent = AgentBriefSerializer()
    execution = ExecutionOutputSerializer(required=False)
    supervision = SupervisionOutputSerializer(required=False)
    proposal = ProposalOutputSerializer(required=False)


class FeedbackOutputSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    agent = AgentOutputSerializer()


class AgentTokenOutputSerializer(serializers.Serializer[Any]):
    access = serializers.CharField()
