"""The periodic lifecycle sweep: complete idle episodes, decay, archive and consolidate near-duplicates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from episodes import selectors
from episodes.embeddings import embedder_get, vector_from_bytes
from episodes.models import (
    Episode,
    EpisodeStatus,
    Outcome,
)
from episodes.services.segmenting import SEGMENT_WRITE_BATCH, _index_version_bump, episode_segment
from governance.services.maturity import agent_outcome_record

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
