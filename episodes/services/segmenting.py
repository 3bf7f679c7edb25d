"""Segmentation of a session into episodes and segments, without loss (SPEC section 5).

The rules live in :mod:`episodes.segmentation`; this module streams a session's new tail through them and
stores the result in one transaction, so a failure leaves no partial episode.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

import numpy as np
from django.conf import settings
from django.db import transaction

from atom.dbinsert import rows_insert
from episodes import selectors
from episodes.embeddings import embedder_get, vector_from_bytes, vector_to_bytes
from episodes.models import (
    AgentSession,
    Episode,
    EpisodeStatus,
    MemoryIndexVersion,
    Role,
    Segment,
    SegmentKind,
)
from episodes.segmentation import SegmentationRules, Segmenter
from episodes.selectors import InteractionRow
from episodes.signals import TOPIC_COUNT, UNTITLED, _preview, _Signals, _topic_words, importance_score
from episodes.vector_index import epoch_us

# Interactions read per round trip while segmenting, and segments written per INSERT.
STREAM_CHUNK = 2000
SEGMENT_WRITE_BATCH = 1000
SUMMARY_MAX_CHARS = 600

# A new segment as written: the values of _SEGMENT_COLUMNS, in that order.
SegmentRow = tuple[int, int, str, int, int, datetime, datetime, str]
_SEGMENT_COLUMNS = ("episode_id", "order", "kind", "seq_start", "seq_end", "started_at", "ended_at", "preview")


# --- Segmentation -------------------------------------------------------------------------------


def segmentation_rules_from_settings() -> SegmentationRules:
    """The segmentation thresholds configured under ``# --- Episodes ---`` in the settings."""
    return SegmentationRules(
        gap_us=settings.EPISODES_SEGMENT_GAP_SECONDS * 1_000_000,
        similarity=settings.EPISODES_TOPIC_SIMILARITY,
        max_size=settings.EPISODES_SEGMENT_MAX_SIZE,
    )


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

    def as_row(self, episode_id: int) -> SegmentRow:
        """The new segment's row, in the order of ``_SEGMENT_COLUMNS``."""
        return (episode_id, self.order, self.kind, self.seq_start, self.seq_end, self.started_at, self.ended_at, self.preview)


def _segments_insert(rows: list[SegmentRow]) -> None:
    """Write new segments with the driver's bulk path (COPY on PostgreSQL, executemany elsewhere).

    Segment sends no signal and nothing reads a new segment's id back, so no model instance is built
    (building them and compiling bulk_create's INSERT cost more than the write itself, P4 profile).
    """
    rows_insert(Segment, _SEGMENT_COLUMNS, rows)


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
        self.pending: list[SegmentRow] = []
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
            _segments_insert(self.pending)
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
