"""Writes of the episodes app: ingestion, segmentation, governed retrieval (it writes the access log),
the lifecycle sweep and the demo data."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from atom.errors import ConflictError, NotFoundError
from episodes import selectors
from episodes.embeddings import embedder_get, vector_from_bytes, vector_to_bytes
from episodes.models import (
    AgentSession,
    Episode,
    EpisodeAccess,
    EpisodeStatus,
    Interaction,
    MemoryIndexVersion,
    Outcome,
    RetrievalMode,
    Role,
    Segment,
    SegmentKind,
)
from episodes.segmentation import SegmentationRules, Segmenter
from episodes.selectors import InteractionRow
from episodes.vector_index import epoch_us, vector_index
from governance.selectors import agent_get_for_owner, agent_list_for_owner
from governance.services.actions import agent_access_authorize
from governance.services.maturity import agent_outcome_record

# Interactions read per round trip while segmenting, and segments written per INSERT.
STREAM_CHUNK = 2000
SEGMENT_WRITE_BATCH = 1000
SUMMARY_MAX_CHARS = 600
UNTITLED = "Untitled session"
TOPIC_COUNT = 5
_WORD = re.compile(r"[^\W\d_]{4,}")
_SPACES = re.compile(r"\s+")
# Words too common to name a topic.
_STOPWORDS = frozenset(
    [
        "that", "this", "with", "from", "have", "what", "when", "where", "which", "there", "their", "about", "would", "could",
        "should", "these", "those", "then", "than", "them", "they", "will", "your", "yours", "into", "just", "also", "been",
        "were", "being", "some", "more", "most", "such", "only", "over", "very", "here", "after", "before", "because", "while",
        "please", "thanks", "thank", "okay", "sure",
    ]
)  # fmt: skip


# --- Ingestion ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InteractionInput:
    """One validated interaction of an ingestion batch."""

    session_id: str
    role: str
    content: str
    timestamp: datetime
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestResult:
    """What an ingestion stored: how many interactions, and the sessions queued for segmentation."""

    accepted: int
    sessions: list[str]


def interactions_ingest(
    *, actor: Any, agent_id: int, items: Sequence[InteractionInput], acting_agent_id: int | None = None
) -> IngestResult:
    """Store a batch of interactions for the caller's agent, atomically, and queue their segmentation.

    Ownership only (ingestion is not tier-gated): another owner's agent is a 404, and so is any agent but
    its own for a token acting as an agent. Each session's interactions are numbered in time order
    after those already stored; a batch that reaches back before the session's latest stored
    interaction is refused (409), because sequence order must be time order for segments to be
    contiguous ranges. The segmentation task is enqueued on commit, so
    nothing runs for a batch that rolled back.
    """
    agent = agent_get_for_owner(owner=actor, agent_id=agent_id, acting_agent_id=acting_agent_id)
    by_session: dict[str, list[InteractionInput]] = {}
    for item in items:
        by_session.setdefault(item.session_id, []).append(item)
    with transaction.atomic():
        for key, group in by_session.items():
            session = _interactions_append(agent_id=agent.pk, key=key, group=sorted(group, key=lambda item: item.timestamp))
            # Enqueued on commit, like Celery's delay_on_commit, but robust: a broker outage after the
            # commit must not turn a stored batch into an error the client would retry (duplicating
            # it). The lifecycle sweep segments any session whose tail was left unsegmented.
            transaction.on_commit(_segmentation_enqueuer(session.pk), robust=True)
    return IngestResult(accepted=len(items), sessions=list(by_session))


def _segmentation_enqueuer(session_pk: int) -> Callable[[], None]:
    # A named function, not a partial: Django logs a failed robust hook by its __qualname__.
    def segmentation_enqueue() -> None:
        from episodes.tasks import episode_segment_task

        episode_segment_task.delay(session_pk)

    return segmentation_enqueue


def _interactions_append(*, agent_id: int, key: str, group: list[InteractionInput]) -> AgentSession:
    session, _ = AgentSession.objects.select_for_update().get_or_create(agent_id=agent_id, key=key)
    if session.last_at is not None and group[0].timestamp < session.last_at:
        raise ConflictError(
            "Interactions of a session must arrive in time order; this batch reaches back before the latest stored one.",
            code="INTERACTION_OUT_OF_ORDER",
            details={"session_id": key, "latest": session.last_at.isoformat()},
        )
    first_seq = session.next_seq
    now = timezone.now()
    _interactions_insert(
        [
            (agent_id, session.pk, first_seq + offset, item.role, item.content, item.timestamp, item.metadata, now)
            for offset, item in enumerate(group)
        ]
    )
    session.next_seq = first_seq + len(group)
    session.last_at = group[-1].timestamp
    session.save(update_fields=["next_seq", "last_at"])
    return session


_INSERT_COLUMNS = ("agent_id", "session_id", "seq", "role", "content", "timestamp", "metadata", "created_at")


def _interactions_insert(rows: list[tuple[int, int, int, str, str, datetime, dict[str, Any], datetime]]) -> None:
    """Insert interaction rows with the driver's bulk path: COPY on PostgreSQL, one executemany elsewhere.

    Ingestion is the hot path of P4, and the ORM's bulk_create spends most of its time building model
    instances and re-compiling SQL per batch. Values still travel only as data (COPY rows or bound
    parameters); the statement holds nothing but the model's own table and column names.
    """
    table = connection.ops.quote_name(Interaction._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in _INSERT_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((*row[:6], _metadata_json(row[6]), row[7]))
            return
        created = _sqlite_datetime(rows[0][7]) if rows else None
        placeholders = ", ".join(["%s"] * len(_INSERT_COLUMNS))
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",  # noqa: S608  # nosec B608 - identifiers from the model, values bound
            [(*row[:5], _sqlite_datetime(row[5]), _metadata_json(row[6]), created) for row in rows],
        )


def _sqlite_datetime(value: datetime) -> str:
    # What Django's SQLite backend stores for an aware datetime (naive UTC text), without its per-value overhead.
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _metadata_json(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, ensure_ascii=False, separators=(",", ":")) if metadata else "{}"


# --- Segmentation -------------------------------------------------------------------------------


def segmentation_rules_from_settings() -> SegmentationRules:
    """The segmentation thresholds configured under ``# --- Episodes ---`` in the settings."""
    return SegmentationRules(
        gap_us=settings.EPISODES_SEGMENT_GAP_SECONDS * 1_000_000,
        similarity=settings.EPISODES_TOPIC_SIMILARITY,
        max_size=settings.EPISODES_SEGMENT_MAX_SIZE,
    )


def _preview(content: str, limit: int = 160) -> str:
    text = _SPACES.sub(" ", content).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _OpenSegment:
    """The running segment while a session streams through the segmenter."""

    order: int
    seq_start: int
    seq_end: int
    started_at: datetime
    ended_at: datetime
    preview: str
    has_user: bool
    has_tool: bool
    pk: int | None = None

    def extend(self, rows: Sequence[InteractionRow]) -> None:
        """Take in a run of consecutive interactions."""
        roles = {row[2] for row in rows}
        self.seq_end = rows[-1][0]
        self.ended_at = rows[-1][1]
        self.has_user = self.has_user or Role.USER in roles
        self.has_tool = self.has_tool or Role.TOOL in roles

    @property
    def kind(self) -> str:
        if self.has_tool:
            return SegmentKind.EXECUTION
        return SegmentKind.CONVERSATION if self.has_user else SegmentKind.REFLECTION

    def as_row(self, episode_id: int) -> Segment:
        return Segment(
            pk=self.pk,
            episode_id=episode_id,
            order=self.order,
            kind=self.kind,
            seq_start=self.seq_start,
            seq_end=self.seq_end,
            started_at=self.started_at,
            ended_at=self.ended_at,
            preview=self.preview,
        )


@dataclass
class _Signals:
    """Outcome signals gathered from interaction metadata."""

    outcome: str | None = None
    interventions: int = 0
    score_sum: float = 0.0
    score_count: int = 0
    importance_hint: float = 0.0

    def read(self, metadata: dict[str, Any]) -> None:
        if not metadata:
            return
        outcome = metadata.get("outcome")
        if isinstance(outcome, str) and outcome in Outcome.values:
            self.outcome = outcome
        elif isinstance(metadata.get("success"), bool):
            self.outcome = Outcome.SUCCESS if metadata["success"] else Outcome.FAILURE
        interventions = metadata.get("interventions")
        if isinstance(interventions, int) and not isinstance(interventions, bool) and 0 <= interventions <= 1000:
            self.interventions += interventions
        score = metadata.get("constitutional_score")
        if isinstance(score, int | float) and not isinstance(score, bool) and 0.0 <= score <= 1.0:
            self.score_sum += float(score)
            self.score_count += 1
        hint = metadata.get("importance")
        if isinstance(hint, int | float) and not isinstance(hint, bool) and 0.0 <= hint <= 1.0:
            self.importance_hint = max(self.importance_hint, float(hint))


def importance_score(*, interaction_count: int, outcome: str, interventions: int, hint: float) -> float:
    """Importance in [0, 1]: 0.5 x size (log scale, full at 1,000 interactions) + 0.3 x outcome weight
    (failures teach most) + 0.2 x interventions (full at 3), raised to any explicit ``importance`` hint."""
    size = min(1.0, math.log1p(interaction_count) / math.log1p(1000))
    outcome_weight = {Outcome.FAILURE: 1.0, Outcome.PARTIAL: 0.7, Outcome.SUCCESS: 0.5}.get(outcome, 0.2)  # type: ignore[call-overload]
    score = 0.5 * size + 0.3 * outcome_weight + 0.2 * min(1.0, interventions / 3)
    return round(min(1.0, max(score, hint)), 4)


def _topic_words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS]


def _index_version_bump(*, agent_id: int) -> int:
    """Move the agent's vector-index version on; the row lock orders versions as commits."""
    row, _ = MemoryIndexVersion.objects.select_for_update().get_or_create(agent_id=agent_id)
    row.version += 1
    row.save(update_fields=["version"])
    return row.version


class _SessionSegmentation:
    """One run of segmentation over the not-yet-segmented tail of a session (see episode_segment)."""

    def __init__(self, session: AgentSession, episode: Episode | None) -> None:
        self.session = session
        self.episode = episode
        self.embedder = embedder_get()
        self.segmenter = Segmenter(segmentation_rules_from_settings(), self.embedder.dim)
        self.running: _OpenSegment | None = None
        self.pending: list[Segment] = []
        self.segment_count = episode.segment_count if episode else 0
        self.total = np.zeros(self.embedder.dim, dtype=np.float64)
        if episode is not None and episode.embedding_model == self.embedder.name:
            self.total += vector_from_bytes(episode.embedding)
        self.signals = _Signals()
        self.topics: Counter[str] = Counter(dict.fromkeys(episode.topics if episode else [], 3))
        self.summary = episode.summary if episode else ""
        self.first_user_text = ""
        self.opened = False

    def resume(self) -> None:
        """Rebuild the running segment's state by replaying its interactions (at most max_size)."""
        assert self.episode is not None
        last = Segment.objects.filter(episode=self.episode).order_by("-order").first()
        if last is None:
            return
        self.running = _OpenSegment(
            order=last.order,
            seq_start=last.seq_start,
            seq_end=last.seq_end,
            started_at=last.started_at,
            ended_at=last.ended_at,
            preview=last.preview,
            has_user=False,
            has_tool=False,
            pk=last.pk,
        )
        rows = list(selectors.interaction_rows(session_id=self.session.pk, seq_from=last.seq_start, seq_to=last.seq_end))
        self.segmenter.absorb_many([epoch_us(row[1]) for row in rows], self.embedder.embed([row[3] for row in rows]))
        self.running.extend(rows)

    def feed(self, rows: list[InteractionRow]) -> None:
        """Segment the next chunk: embed it at once, find the boundaries, then handle whole runs."""
        vectors = self.embedder.embed([row[3] for row in rows])
        self.total += vectors.sum(axis=0, dtype=np.float64)
        starts = self.segmenter.feed_many([epoch_us(row[1]) for row in rows], vectors)
        bounds = [*starts, len(rows)]
        if bounds[0] > 0:
            assert self.running is not None
            self.running.extend(rows[: bounds[0]])
        for start, end in pairwise(bounds):
            self._open(rows[start])
            assert self.running is not None
            self.running.extend(rows[start:end])
        for row in rows:
            if row[4]:
                self.signals.read(row[4])
        if not self.first_user_text:
            self.first_user_text = next((row[3] for row in rows if row[2] == Role.USER and row[3].strip()), "")

    def _open(self, first: InteractionRow) -> None:
        self._close_running()
        seq, at, _role, content, _metadata = first
        self.running = _OpenSegment(
            order=self.segment_count,
            seq_start=seq,
            seq_end=seq,
            started_at=at,
            ended_at=at,
            preview=_preview(content),
            has_user=False,
            has_tool=False,
        )
        self.segment_count += 1
        self.topics.update(_topic_words(content))
        if len(self.summary) < SUMMARY_MAX_CHARS and self.running.preview:
            self.summary = (self.summary + " / " + self.running.preview if self.summary else self.running.preview)[:SUMMARY_MAX_CHARS]

    def _close_running(self) -> None:
        running = self.running
        if running is None:
            return
        if running.pk is not None:
            assert self.episode is not None
            Segment.objects.filter(pk=running.pk).update(seq_end=running.seq_end, ended_at=running.ended_at, kind=running.kind)
        else:
            self.pending.append(running.as_row(self.episode_id))
            if len(self.pending) >= SEGMENT_WRITE_BATCH:
                self.flush()

    def flush(self) -> None:
        if self.pending:
            Segment.objects.bulk_create(self.pending, batch_size=SEGMENT_WRITE_BATCH)
            self.pending = []

    @property
    def episode_id(self) -> int:
        assert self.episode is not None
        return self.episode.pk

    def episode_open(self, first: InteractionRow) -> None:
        """Create the episode row on the first chunk of a new session (inside the run's transaction)."""
        agent = self.session.agent
        self.opened = True
        self.episode = Episode.objects.create(
            agent_id=agent.pk,
            session=self.session,
            title=_preview(first[3], 120) or UNTITLED,
            started_at=first[1],
            ended_at=first[1],
            maturity=agent.maturity,
            embedding=b"",
            embedding_model=self.embedder.name,
        )

    def finish(self) -> Episode:
        self._close_running()
        self.flush()
        episode = self.episode
        assert episode is not None
        assert self.running is not None
        episode.ended_at = self.running.ended_at
        episode.interaction_count = self.running.seq_end + 1
        episode.segment_count = self.segment_count
        episode.segmented_through = self.running.seq_end
        episode.embedding = vector_to_bytes(self.total)
        episode.embedding_model = self.embedder.name
        episode.summary = self.summary
        episode.topics = [word for word, _count in self.topics.most_common(TOPIC_COUNT)]
        if self.opened and self.first_user_text:
            # The title is what the user first asked, when the first batch has a user message.
            episode.title = _preview(self.first_user_text, 120)
        if self.signals.outcome is not None:
            episode.outcome = self.signals.outcome
        episode.interventions += self.signals.interventions
        episode.constitutional_score_sum += self.signals.score_sum
        episode.constitutional_score_count += self.signals.score_count
        episode.importance = importance_score(
            interaction_count=episode.interaction_count,
            outcome=episode.outcome,
            interventions=episode.interventions,
            # Importance never falls while an episode grows: an earlier explicit hint stays in force.
            hint=max(self.signals.importance_hint, episode.importance),
        )
        if episode.status == EpisodeStatus.COMPLETED:
            # New interactions reopen a completed episode; archived and consolidated ones stay put.
            episode.status = EpisodeStatus.ACTIVE
            episode.consolidation_checked = False
        episode.index_version = _index_version_bump(agent_id=episode.agent_id)
        episode.save()
        return episode


def episode_segment(*, session_pk: int) -> Episode | None:
    """Segment whatever part of a session is not segmented yet, and store it as its episode.

    One transaction: the session row is locked (serialising with ingestion and with a second delivery
    of the same task), the new interactions stream through the segmenter in chunks of STREAM_CHUNK
    (bounded memory, whatever the session's size), new segments are written in bulk, and the
    episode's derived fields and vector are updated. A failure anywhere rolls everything back: no
    partial episode, no segment, interactions untouched. Running it again with nothing new to read
    changes nothing, so a redelivered task is harmless.
    """
    with transaction.atomic():
        session = AgentSession.objects.select_for_update(of=("self",)).select_related("agent").filter(pk=session_pk).first()
        if session is None:
            return None
        episode = Episode.objects.filter(session=session).first()
        start = episode.segmented_through + 1 if episode else 0
        if start >= session.next_seq:
            return episode
        run = _SessionSegmentation(session, episode)
        if episode is not None:
            run.resume()
        for rows in selectors.interaction_chunks(session_id=session.pk, seq_from=start, chunk=STREAM_CHUNK):
            if run.episode is None:
                run.episode_open(rows[0])
            run.feed(rows)
        return run.finish()


# --- Retrieval ----------------------------------------------------------------------------------

# The tier each retrieval mode needs, as a governance action (SPEC section 3's action map).
MODE_ACTIONS: dict[str, str] = {
    RetrievalMode.TEMPORAL: "memory_search",
    RetrievalMode.SEQUENTIAL: "memory_search",
    RetrievalMode.SEMANTIC: "semantic_search",
    RetrievalMode.CONTEXTUAL: "semantic_search",
}
# (default, maximum) limit per mode; sequential limits the segments returned.
MODE_LIMITS: dict[str, tuple[int, int]] = {
    RetrievalMode.TEMPORAL: (50, 200),
    RetrievalMode.SEMANTIC: (10, 100),
    RetrievalMode.SEQUENTIAL: (50, 200),
    RetrievalMode.CONTEXTUAL: (5, 50),
}


@dataclass(frozen=True)
class RetrievalQuery:
    """A validated retrieval request."""

    mode: str
    limit: int | None = None
    text: str = ""
    since: datetime | None = None
    until: datetime | None = None
    episode_id: int | None = None
    after: int = -1
    include_archived: bool = False


@dataclass
class RetrievalResult:
    """Episodes (with a score for ranked modes), or one episode with its segments (sequential)."""

    mode: str
    limit: int
    episodes: list[Episode] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.episodes)


def limit_clamp(*, mode: str, requested: int | None) -> int:
    """The mode's default when none is given; never more than the mode's maximum."""
    default, maximum = MODE_LIMITS[mode]
    return default if requested is None else max(1, min(requested, maximum))


def episodes_retrieve(
    *, actor: Any, agent_id: int, query: RetrievalQuery, request_id: str = "", acting_agent_id: int | None = None
) -> RetrievalResult:
    """Governed retrieval of an agent's episodes in one of the four modes, written to the access log.

    Governance first (``agent_access_authorize``: 404 for a missing or foreign agent, or for any agent
    but its own when the caller is a token acting as an agent; 403 below the mode's tier or for an
    inactive agent; one audit row either way). Query text is only ever embedded and compared in memory,
    and every filter reaches SQL as a bound parameter.
    """
    agent = agent_access_authorize(
        actor=actor, agent_id=agent_id, action=MODE_ACTIONS[query.mode], request_id=request_id, acting_agent_id=acting_agent_id
    )
    limit = limit_clamp(mode=query.mode, requested=query.limit)
    result = RetrievalResult(mode=query.mode, limit=limit)
    if query.mode == RetrievalMode.TEMPORAL:
        result.episodes = list(
            selectors.episodes_temporal(
                agent_id=agent.pk, since=query.since, until=query.until, include_archived=query.include_archived, limit=limit
            )
        )
    elif query.mode == RetrievalMode.SEQUENTIAL:
        assert query.episode_id is not None
        episode = selectors.episode_for_agent(agent_id=agent.pk, episode_id=query.episode_id)
        if episode is None:
            raise NotFoundError("Episode not found.")
        result.episodes = [episode]
        result.segments = list(selectors.segments_in_order(episode_id=episode.pk, after=query.after, limit=limit))
    else:
        query_vector = embedder_get().embed([query.text])[0]
        vectors = vector_index.vectors_for(agent.pk)
        if query.mode == RetrievalMode.SEMANTIC:
            ranked = selectors.rank_semantic(vectors=vectors, query_vector=query_vector, limit=limit)
        else:
            ranked = selectors.rank_contextual(
                vectors=vectors, query_vector=query_vector, limit=limit, since=query.since, until=query.until, now=timezone.now()
            )
        result.episodes = selectors.episodes_by_rank(ranked=ranked)
    _access_record(actor=actor, agent_id=agent.pk, query=query, result=result, request_id=request_id)
    return result


def episode_read(*, actor: Any, episode_id: int, request_id: str = "", acting_agent_id: int | None = None) -> RetrievalResult:
    """``GET episodes/{id}/``: sequential retrieval of one episode, found by its id alone."""
    agent_id = selectors.episode_agent_id(episode_id=episode_id)
    if agent_id is None:
        raise NotFoundError("Episode not found.")
    return episodes_retrieve(
        actor=actor,
        agent_id=agent_id,
        query=RetrievalQuery(mode=RetrievalMode.SEQUENTIAL, episode_id=episode_id, limit=MODE_LIMITS[RetrievalMode.SEQUENTIAL][1]),
        request_id=request_id,
        acting_agent_id=acting_agent_id,
    )


def _access_record(*, actor: Any, agent_id: int, query: RetrievalQuery, result: RetrievalResult, request_id: str) -> None:
    params: dict[str, Any] = {"limit": result.limit}
    for name in ("since", "until"):
        moment = getattr(query, name)
        if moment is not None:
            params[name] = moment.isoformat()
    if query.episode_id is not None:
        params["episode_id"] = query.episode_id
    ids = [segment.pk for segment in result.segments] if query.mode == RetrievalMode.SEQUENTIAL else [e.pk for e in result.episodes]
    EpisodeAccess.objects.create(
        agent_id=agent_id,
        actor=actor,
        mode=query.mode,
        query=query.text,
        params=params,
        result_ids=ids,
        result_count=len(ids),
        request_id=request_id,
    )


# --- Lifecycle ----------------------------------------------------------------------------------


@dataclass
class LifecycleReport:
    """What one lifecycle sweep changed."""

    resegmented: int = 0
    completed: int = 0
    decayed: int = 0
    archived: int = 0
    consolidated: int = 0


def episodes_lifecycle_run(*, now: datetime | None = None) -> LifecycleReport:
    """The periodic sweep: segment tails a lost task left behind, complete idle episodes, decay the old, archive the very old, consolidate
    near-duplicates. Every step selects only rows it still has to change, so a second run at the same
    moment changes nothing.

    - complete: active episodes idle for EPISODES_IDLE_COMPLETE_SECONDS (and report their outcome to
      governance when the metadata carried the signals);
    - decay = max(0, 1 - age_days / 180) for episodes whose last interaction is over 90 days old;
    - archive episodes over 180 days old (decay 0);
    - consolidate: a completed episode whose vector has cosine >= 0.85 with an earlier completed
      episode of the same agent becomes ``consolidated`` into it.
    """
    now = now or timezone.now()
    report = LifecycleReport()
    for session_pk in selectors.sessions_unsegmented(settled_before=now - timedelta(minutes=5)):
        episode_segment(session_pk=session_pk)
        report.resegmented += 1
    report.completed = _episodes_complete(now=now)
    report.archived, report.decayed = _episodes_age(now=now)
    report.consolidated = _episodes_consolidate()
    return report


def _episodes_complete(*, now: datetime) -> int:
    cutoff = now - timedelta(seconds=settings.EPISODES_IDLE_COMPLETE_SECONDS)
    completed = 0
    for episode_id in list(selectors.episodes_idle_ids(cutoff=cutoff)):
        with transaction.atomic():
            episode = Episode.objects.select_for_update().filter(pk=episode_id, status=EpisodeStatus.ACTIVE, ended_at__lt=cutoff).first()
            if episode is None:
                continue
            episode.status = EpisodeStatus.COMPLETED
            episode.index_version = _index_version_bump(agent_id=episode.agent_id)
            episode.save(update_fields=["status", "index_version", "updated_at"])
            completed += 1
            if (
                episode.constitutional_score_count
                and episode.outcome in (Outcome.SUCCESS, Outcome.FAILURE)
                and not episode.outcome_recorded
            ):
                agent_outcome_record(
                    agent_id=episode.agent_id,
                    reference=f"episode:{episode.pk}",
                    success=episode.outcome == Outcome.SUCCESS,
                    interventions=episode.interventions,
                    constitutional_score=min(1.0, episode.constitutional_score_sum / episode.constitutional_score_count),
                )
                Episode.objects.filter(pk=episode.pk).update(outcome_recorded=True)
    return completed


def _episodes_age(*, now: datetime) -> tuple[int, int]:
    archive_cutoff = now - timedelta(days=settings.EPISODES_ARCHIVE_AFTER_DAYS)
    decay_cutoff = now - timedelta(days=settings.EPISODES_DECAY_AFTER_DAYS)
    by_agent: dict[int, list[int]] = {}
    for agent_id, episode_id in selectors.episodes_to_archive(cutoff=archive_cutoff):
        by_agent.setdefault(agent_id, []).append(episode_id)
    archived = 0
    for agent_id, episode_ids in by_agent.items():
        with transaction.atomic():
            version = _index_version_bump(agent_id=agent_id)
            for start in range(0, len(episode_ids), SEGMENT_WRITE_BATCH):
                archived += Episode.objects.filter(
                    pk__in=episode_ids[start : start + SEGMENT_WRITE_BATCH], status__in=[EpisodeStatus.ACTIVE, EpisodeStatus.COMPLETED]
                ).update(status=EpisodeStatus.ARCHIVED, decay=0.0, index_version=version, updated_at=now)
    decayed = 0
    horizon = float(settings.EPISODES_ARCHIVE_AFTER_DAYS)
    batch: list[Episode] = []
    for episode in selectors.episodes_to_decay(cutoff=decay_cutoff):
        age_days = (now - episode.ended_at).total_seconds() / 86400
        value = round(max(0.0, 1.0 - age_days / horizon), 4)
        if value != episode.decay:
            episode.decay = value
            batch.append(episode)
        if len(batch) >= SEGMENT_WRITE_BATCH:
            decayed += _decay_write(batch)
            batch = []
    decayed += _decay_write(batch)
    return archived, decayed


def _decay_write(batch: list[Episode]) -> int:
    if batch:
        Episode.objects.bulk_update(batch, ["decay"], batch_size=SEGMENT_WRITE_BATCH)
    return len(batch)


def _episodes_consolidate() -> int:
    threshold = settings.EPISODES_CONSOLIDATE_SIMILARITY
    consolidated = 0
    for agent_id in selectors.agents_with_unchecked_episodes():
        with transaction.atomic():
            candidates = list(selectors.episodes_completed_vectors(agent_id=agent_id))
            model = embedder_get().name
            usable = [(pk, checked, vector_from_bytes(raw)) for pk, checked, raw, name in candidates if name == model and raw]
            survivors: list[int] = []
            matrix_rows: list[npt.NDArray[np.float32]] = []
            merged: dict[int, int] = {}
            unchecked: list[int] = []
            for pk, checked, vector in usable:
                norm = float(np.linalg.norm(vector))
                unit = vector / norm if norm > 0 else vector
                if not checked:
                    unchecked.append(pk)
                    if matrix_rows and norm > 0:
                        similarities = np.vstack(matrix_rows) @ unit
                        best = int(np.argmax(similarities))
                        if similarities[best] >= threshold:
                            merged[pk] = survivors[best]
                            continue
                survivors.append(pk)
                matrix_rows.append(unit.astype(np.float32))
            version = _index_version_bump(agent_id=agent_id)
            for duplicate, survivor in merged.items():
                Episode.objects.filter(pk=duplicate).update(
                    status=EpisodeStatus.CONSOLIDATED, consolidated_into_id=survivor, index_version=version, consolidation_checked=True
                )
            Episode.objects.filter(pk__in=unchecked).exclude(pk__in=list(merged)).update(consolidation_checked=True)
            consolidated += len(merged)
    return consolidated


# --- Demo data ----------------------------------------------------------------------------------

_DEMO_TOPICS: list[tuple[str, list[str]]] = [
    (
        "deploy the billing service",
        ["deploy billing service staging", "billing deploy rollout canary", "deploy billing service production"],
    ),
    ("investigate the flaky login test", ["login test flaky timeout", "flaky login test retry", "login test token expiry flaky"]),
    ("plan the database migration", ["database migration plan index", "migration database lock table", "database migration rollback plan"]),
]


# How many times --large repeats the demo topics per agent (20 x 3 topics = 60 sessions per agent).
DEMO_LARGE_REPEAT = 20


def _demo_items(*, key: str, title: str, lines: list[str], at: datetime) -> list[InteractionInput]:
    items = [InteractionInput(session_id=key, role=Role.USER, content=f"Please {title}.", timestamp=at)]
    for step, line in enumerate(lines):
        items.append(
            InteractionInput(session_id=key, role=Role.AGENT, content=f"Working on it: {line}.", timestamp=at + timedelta(minutes=step + 1))
        )
        items.append(
            InteractionInput(session_id=key, role=Role.TOOL, content=f"tool output: {line} ok", timestamp=at + timedelta(minutes=step + 2))
        )
    items.append(
        InteractionInput(
            session_id=key,
            role=Role.AGENT,
            content=f"Done: {title}.",
            timestamp=at + timedelta(minutes=10),
            metadata={"outcome": Outcome.SUCCESS, "interventions": 0, "constitutional_score": 0.9},
        )
    )
    return items


def demo_data_seed(*, large: bool, stdout: TextIO, large_repeat: int = DEMO_LARGE_REPEAT) -> None:
    """Episodes for the demo agents that governance's seeder created (owner "demo"). Idempotent: a
    session that already has interactions is left alone.

    ``large`` repeats the topics ``large_repeat`` times per agent and writes each agent's new sessions
    in one batch (see _demo_sessions_bulk), with a progress bar over the agents on ``stdout``.
    """
    owner = get_user_model().objects.filter(username="demo").first()
    if owner is None:
        stdout.write("episodes: no demo owner yet; run the governance seeder first.\n")
        return
    sessions = 0
    start = timezone.now() - timedelta(days=2)
    agents = list(agent_list_for_owner(owner=owner))
    if large:
        for agent in tqdm(agents, desc="episodes", unit="agent", file=stdout, mininterval=0.5):
            sessions += _demo_sessions_bulk(agent_id=agent.pk, start=start, repeat=large_repeat)
        stdout.write(f"episodes: {sessions} demo sessions ingested and segmented.\n")
        return
    for agent in agents:
        for index, (title, lines) in enumerate(_DEMO_TOPICS):
            key = f"demo-{index}"
            if AgentSession.objects.filter(agent=agent, key=key).exists():
                continue
            items = _demo_items(key=key, title=title, lines=lines, at=start + timedelta(hours=index))
            interactions_ingest(actor=owner, agent_id=agent.pk, items=items)
            # Segment now so the demo shows episodes at once; the queued task will then find nothing to do.
            session = AgentSession.objects.get(agent=agent, key=key)
            episode_segment(session_pk=session.pk)
            sessions += 1
    stdout.write(f"episodes: {sessions} demo sessions ingested and segmented.\n")


def _demo_sessions_bulk(*, agent_id: int, start: datetime, repeat: int) -> int:
    """One agent's missing large-demo sessions in one transaction: sessions created in one bulk insert,
    their interactions in one driver-level bulk insert, then their episodes.

    The large demo repeats the same few topics, an hour apart, so their episodes differ only in time:
    the first new session of each topic is segmented by episode_segment, and the repeats get a copy
    of its episode and segments shifted in time, written in two bulk inserts (the tests check a copy
    equals what segmentation computes). Unlike interactions_ingest this queues no segmentation task
    per session: they would only find nothing to do.
    """
    with transaction.atomic():
        existing = set(AgentSession.objects.filter(agent_id=agent_id, key__startswith="demo-").values_list("key", flat=True))
        missing = [index for index in range(len(_DEMO_TOPICS) * repeat) if f"demo-{index}" not in existing]
        if not missing:
            return 0
        items: dict[int, list[InteractionInput]] = {}
        for index in missing:
            title, lines = _DEMO_TOPICS[index % len(_DEMO_TOPICS)]
            items[index] = _demo_items(key=f"demo-{index}", title=title, lines=lines, at=start + timedelta(hours=index))
        AgentSession.objects.bulk_create(
            [
                AgentSession(agent_id=agent_id, key=f"demo-{index}", next_seq=len(group), last_at=group[-1].timestamp)
                for index, group in items.items()
            ]
        )
        session_pks = dict(
            AgentSession.objects.filter(agent_id=agent_id, key__in=[f"demo-{index}" for index in items]).values_list("key", "pk")
        )
        now = timezone.now()
        _interactions_insert(
            [
                (agent_id, session_pks[f"demo-{index}"], seq, item.role, item.content, item.timestamp, item.metadata, now)
                for index, group in items.items()
                for seq, item in enumerate(group)
            ]
        )
        templates: dict[int, tuple[int, Episode, list[Segment]]] = {}
        copies: list[tuple[int, int]] = []
        for index in missing:
            topic = index % len(_DEMO_TOPICS)
            if topic in templates:
                copies.append((index, topic))
                continue
            episode = episode_segment(session_pk=session_pks[f"demo-{index}"])
            assert episode is not None
            templates[topic] = (index, episode, list(Segment.objects.filter(episode=episode).order_by("order")))
        if copies:
            _demo_episodes_copy(agent_id=agent_id, copies=copies, templates=templates, session_pks=session_pks)
    return len(missing)


# Episode columns a copy takes from its template as they are; times are shifted, the rest is its own.
_EPISODE_OWN_FIELDS = {"id", "session", "started_at", "ended_at", "index_version", "created_at", "updated_at"}


def _demo_episodes_copy(
    *, agent_id: int, copies: list[tuple[int, int]], templates: dict[int, tuple[int, Episode, list[Segment]]], session_pks: dict[str, int]
) -> None:
    version = _index_version_bump(agent_id=agent_id)
    copied = [field.attname for field in Episode._meta.concrete_fields if field.name not in _EPISODE_OWN_FIELDS]
    episodes: list[Episode] = []
    for index, topic in copies:
        template_index, template, _ = templates[topic]
        shift = timedelta(hours=index - template_index)
        episodes.append(
            Episode(
                **{name: getattr(template, name) for name in copied},
                session_id=session_pks[f"demo-{index}"],
                started_at=template.started_at + shift,
                ended_at=template.ended_at + shift,
                index_version=version,
            )
        )
    Episode.objects.bulk_create(episodes, batch_size=SEGMENT_WRITE_BATCH)
    segments: list[Segment] = []
    for (index, topic), episode in zip(copies, episodes, strict=True):
        template_index, _, template_segments = templates[topic]
        shift = timedelta(hours=index - template_index)
        segments.extend(
            Segment(
                episode_id=episode.pk,
                order=segment.order,
                kind=segment.kind,
                seq_start=segment.seq_start,
                seq_end=segment.seq_end,
                started_at=segment.started_at + shift,
                ended_at=segment.ended_at + shift,
                preview=segment.preview,
            )
            for segment in template_segments
        )
    Segment.objects.bulk_create(segments, batch_size=SEGMENT_WRITE_BATCH)
