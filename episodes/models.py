"""Episodic memory: interactions as ingested, the episodes and segments cut from them, and who read what.

Interactions are never copied or moved. Each session numbers its interactions 0, 1, 2, … in time order
(``seq``), and a segment holds the contiguous range ``seq_start..seq_end`` of its session: lossless,
checkable with one query, and segmentation never has to update an interaction row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from governance.models import Agent


class Role(models.TextChoices):
    """Who produced an interaction."""

    USER = "user", "User"
    AGENT = "agent", "Agent"
    TOOL = "tool", "Tool"
    SYSTEM = "system", "System"


class AgentSession(models.Model):
    """One session of one agent: the stream its interactions are appended to, in time order.

    The row is the lock that serialises ingestion and segmentation of the session, and hands out the
    next sequence number, so that sequence numbers have no gaps and follow time order.
    """

    # Indexed by the (agent, key) unique constraint; a separate FK index would only slow writes.
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="memory_sessions", db_index=False)
    key = models.CharField(max_length=128, help_text="The client's session id.")
    next_seq = models.BigIntegerField(default=0)
    last_at = models.DateTimeField(null=True, blank=True, help_text="Timestamp of the latest interaction.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "key"], name="ep_session_agent_key_uniq"),
            models.CheckConstraint(condition=Q(next_seq__gte=0), name="ep_session_next_seq_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_id}/{self.key}"


class Interaction(models.Model):
    """One message or event of a session, stored exactly as ingested."""

    # Both foreign keys lead composite indexes ((agent, timestamp) and the (session, seq) unique
    # constraint), so they carry no index of their own: one index less to maintain per ingested row.
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="interactions", db_index=False)
    session = models.ForeignKey(AgentSession, on_delete=models.PROTECT, related_name="interactions", db_index=False)
    seq = models.BigIntegerField(help_text="Position in the session, from 0, in time order.")
    role = models.CharField(max_length=8, choices=Role.choices)
    content = models.TextField()
    timestamp = models.DateTimeField()
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="ep_interaction_session_seq_uniq"),
            models.CheckConstraint(condition=Q(seq__gte=0), name="ep_interaction_seq_nonneg"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="ep_interaction_role_valid"),
        ]
        indexes = [models.Index(fields=["agent", "timestamp"], name="ep_interaction_agent_time")]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.seq} {self.role}"


class EpisodeStatus(models.TextChoices):
    """Where an episode is in its life."""

    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    ARCHIVED = "archived", "Archived"
    CONSOLIDATED = "consolidated", "Consolidated"


class Outcome(models.TextChoices):
    """How the episode ended, from the ``outcome`` or ``success`` signals in interaction metadata."""

    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    PARTIAL = "partial", "Partial"
    UNKNOWN = "unknown", "Unknown"


class Episode(models.Model):
    """The episode cut from one session: derived fields, its vector, and its place in the lifecycle.

    ``embedding`` is the float32 *sum* of the session's interaction vectors (normalised when searched),
    so that appending interactions updates it without re-reading the session. ``index_version`` is the
    agent's :class:`MemoryIndexVersion` at the last change that semantic search must see.
    """

    # Indexed by ep_episode_agent_started, which leads with the agent.
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="episodes", db_index=False)
    session = models.OneToOneField(AgentSession, on_delete=models.PROTECT, related_name="episode")
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True, default="")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=EpisodeStatus.choices, default=EpisodeStatus.ACTIVE)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.UNKNOWN)
    topics = models.JSONField(default=list, blank=True)
    importance = models.FloatField(default=0.0)
    decay = models.FloatField(default=1.0)
    maturity = models.CharField(max_length=16, help_text="The agent's maturity tier when the episode began.")
    interaction_count = models.BigIntegerField(default=0)
    segment_count = models.IntegerField(default=0)
    segmented_through = models.BigIntegerField(default=-1, help_text="Highest session seq already segmented.")
    interventions = models.IntegerField(default=0)
    constitutional_score_sum = models.FloatField(default=0.0)
    constitutional_score_count = models.IntegerField(default=0)
    embedding = models.BinaryField()
    embedding_model = models.CharField(max_length=100)
    index_version = models.BigIntegerField(default=0)
    consolidated_into = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="duplicates")
    consolidation_checked = models.BooleanField(default=False)
    outcome_recorded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(importance__gte=0) & Q(importance__lte=1), name="ep_episode_importance_0_1"),
            models.CheckConstraint(condition=Q(decay__gte=0) & Q(decay__lte=1), name="ep_episode_decay_0_1"),
            models.CheckConstraint(condition=Q(ended_at__gte=F("started_at")), name="ep_episode_time_ordered"),
            models.CheckConstraint(condition=Q(status__in=EpisodeStatus.values), name="ep_episode_status_valid"),
        ]
        indexes = [
            # Temporal retrieval: one agent's episodes, newest first.
            models.Index(F("agent"), F("started_at").desc(), F("id").desc(), name="ep_episode_agent_started"),
            # Refreshing the in-process vector index: what changed since the version a process holds.
            models.Index(fields=["agent", "index_version"], name="ep_episode_agent_version"),
            # The lifecycle sweep: by status and age.
            models.Index(fields=["status", "ended_at"], name="ep_episode_status_ended"),
        ]

    def __str__(self) -> str:
        return self.title


class SegmentKind(models.TextChoices):
    """What a segment mostly is: talk with a user, tool execution, or the agent reflecting alone."""

    CONVERSATION = "conversation", "Conversation"
    EXECUTION = "execution", "Execution"
    REFLECTION = "reflection", "Reflection"


class Segment(models.Model):
    """A contiguous run of one session's interactions, ``seq_start..seq_end`` inclusive, in episode order."""

    # Indexed by the (episode, order) unique constraint.
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="segments", db_index=False)
    order = models.IntegerField()
    kind = models.CharField(max_length=16, choices=SegmentKind.choices)
    seq_start = models.BigIntegerField()
    seq_end = models.BigIntegerField()
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    preview = models.CharField(max_length=160, blank=True, default="", help_text="The start of its first interaction.")

    class Meta:
        ordering = ["episode", "order"]
        constraints = [
            models.UniqueConstraint(fields=["episode", "order"], name="ep_segment_episode_order_uniq"),
            models.UniqueConstraint(fields=["episode", "seq_start"], name="ep_segment_episode_seq_uniq"),
            models.CheckConstraint(condition=Q(order__gte=0), name="ep_segment_order_nonneg"),
            models.CheckConstraint(condition=Q(seq_end__gte=F("seq_start")) & Q(seq_start__gte=0), name="ep_segment_range_valid"),
            models.CheckConstraint(condition=Q(kind__in=SegmentKind.values), name="ep_segment_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.episode_id}:{self.order}"

    @property
    def interaction_count(self) -> int:
        return self.seq_end - self.seq_start + 1


class MemoryIndexVersion(models.Model):
    """A per-agent counter that moves, inside the writing transaction, whenever episode vectors change.

    Web processes keep the agent's vectors in memory and compare this one row to know whether, and
    from which version on, to refresh them.
    """

    agent = models.OneToOneField(Agent, on_delete=models.CASCADE, related_name="memory_index_version")
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.agent_id} v{self.version}"


class RetrievalMode(models.TextChoices):
    """The four retrieval modes of SPEC section 5."""

    TEMPORAL = "temporal", "Temporal"
    SEMANTIC = "semantic", "Semantic"
    SEQUENTIAL = "sequential", "Sequential"
    CONTEXTUAL = "contextual", "Contextual"


class EpisodeAccess(models.Model):
    """One allowed retrieval: who read which agent's memory, how, and what came back. Append-only."""

    # Indexed by ep_access_agent_created, which leads with the agent.
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="episode_accesses", db_index=False)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    mode = models.CharField(max_length=16, choices=RetrievalMode.choices)
    query = models.TextField(blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    result_ids = models.JSONField(default=list, blank=True)
    result_count = models.IntegerField(default=0)
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "episode accesses"
        indexes = [models.Index(fields=["agent", "-created_at"], name="ep_access_agent_created")]

    def __str__(self) -> str:
        return f"{self.mode} on {self.agent_id} by {self.actor_id}"
