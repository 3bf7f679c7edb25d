"""Input and output serializers of the episodes API (parsing and shaping only)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from episodes.models import Episode, RetrievalMode, Role, Segment
from episodes.ranking import CONTEXTUAL_SCORE_DOC

SESSION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# How far ahead of the server's clock an interaction's timestamp may be (clock skew).
FUTURE_TOLERANCE = timedelta(minutes=5)


def _storable(text: str) -> bool:
    """Text both SQLite and PostgreSQL store as given: encodable as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class InteractionInputSerializer(serializers.Serializer[dict[str, Any]]):
    session_id = serializers.RegexField(SESSION_ID, max_length=128)
    role = serializers.ChoiceField(choices=Role.choices)
    content = serializers.CharField(max_length=settings.EPISODES_CONTENT_MAX_CHARS, allow_blank=True, trim_whitespace=False)
    timestamp = serializers.DateTimeField()
    metadata = serializers.DictField(required=False, default=dict)

    def validate_content(self, value: str) -> str:
        if not _storable(value):
            raise serializers.ValidationError("Content must be valid Unicode text.")
        return value

    def validate_timestamp(self, value: Any) -> Any:
        if value > timezone.now() + FUTURE_TOLERANCE:
            raise serializers.ValidationError("Timestamp is in the future.")
        return value

    def validate_metadata(self, value: dict[str, Any]) -> dict[str, Any]:
        encoded = json.dumps(value, ensure_ascii=False)
        # PostgreSQL's jsonb refuses NUL characters, and lone surrogates are not Unicode text.
        if "\\u0000" in encoded or not _storable(encoded):
            raise serializers.ValidationError("Metadata must not contain NUL characters or invalid Unicode.")
        if len(encoded.encode("utf-8")) > settings.EPISODES_METADATA_MAX_BYTES:
            raise serializers.ValidationError(f"Metadata is larger than {settings.EPISODES_METADATA_MAX_BYTES} bytes.")
        return value


class IngestInputSerializer(serializers.Serializer[dict[str, Any]]):
    interactions = serializers.ListField(
        child=InteractionInputSerializer(), min_length=1, max_length=settings.EPISODES_INGEST_MAX_BATCH, allow_empty=False
    )


class IngestOutputSerializer(serializers.Serializer[Any]):
    accepted = serializers.IntegerField()
    sessions = serializers.ListField(child=serializers.CharField())


class RetrievalInputSerializer(serializers.Serializer[dict[str, Any]]):
    mode = serializers.ChoiceField(choices=RetrievalMode.choices, default=RetrievalMode.TEMPORAL)
    q = serializers.CharField(required=False, default="", allow_blank=True, max_length=1000, trim_whitespace=False)
    limit = serializers.IntegerField(required=False, min_value=1, help_text="Clamped to the mode's maximum (200, 100, 200, 50).")
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    episode_id = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    after = serializers.IntegerField(
        required=False, default=-1, min_value=-1, max_value=2**31, help_text="Sequential: segments after this order."
    )
    include_archived = serializers.BooleanField(required=False, default=False)

    def validate_q(self, value: str) -> str:
        if not _storable(value):
            raise serializers.ValidationError("Query must be valid Unicode text.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        mode = attrs["mode"]
        if mode in (RetrievalMode.SEMANTIC, RetrievalMode.CONTEXTUAL) and not attrs["q"].strip():
            raise serializers.ValidationError({"q": "This mode needs query text."})
        if mode == RetrievalMode.SEQUENTIAL and attrs.get("episode_id") is None:
            raise serializers.ValidationError({"episode_id": "Sequential retrieval needs an episode id."})
        if attrs.get("since") and attrs.get("until") and attrs["since"] > attrs["until"]:
            raise serializers.ValidationError({"since": "since must not be after until."})
        return attrs


class SegmentOutputSerializer(serializers.ModelSerializer[Segment]):
    interaction_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Segment
        fields = ["id", "order", "kind", "seq_start", "seq_end", "interaction_count", "started_at", "ended_at", "preview"]


class EpisodeOutputSerializer(serializers.ModelSerializer[Episode]):
    session_id = serializers.CharField(source="session_key", read_only=True)
    score = serializers.FloatField(
        read_only=True, allow_null=True, default=None, help_text="Semantic: cosine similarity. Contextual: " + CONTEXTUAL_SCORE_DOC
    )

    class Meta:
        model = Episode
        fields = [
            "id",
            "agent_id",
            "session_id",
            "title",
            "summary",
            "status",
            "outcome",
            "topics",
            "importance",
            "decay",
            "maturity",
            "started_at",
            "ended_at",
            "interaction_count",
            "segment_count",
            "score",
        ]


class RetrievalOutputSerializer(serializers.Serializer[Any]):
    mode = serializers.CharField()
    limit = serializers.IntegerField(help_text="The limit applied, after clamping.")
    count = serializers.IntegerField()
    results = EpisodeOutputSerializer(many=True, source="episodes")
    segments = SegmentOutputSerializer(many=True, help_text="Sequential mode: the episode's segments in order.")
