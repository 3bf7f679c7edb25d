"""The in-process vector index that semantic and contextual retrieval search.

Each process keeps, per agent, a numpy matrix of that agent's normalised episode vectors (exact
brute-force search: one matrix-vector product, then ``argpartition``). It is refreshed from the
database by delta: every write that changes what search must see bumps the agent's
:class:`~episodes.models.MemoryIndexVersion` in the same transaction and stamps the episodes it
touched with the new version, so a process reads one row to know it is current and, when it is not,
only the episodes stamped after the version it holds. Total memory is bounded by
``EPISODES_VECTOR_CACHE_MB``; the least recently used agent is evicted first.

A process meeting an agent for the first time maps the agent's saved copy under the var directory
(see :func:`vectors_load`) and reads from the database only the episodes stamped after it, so the
first semantic query after a restart costs milliseconds, not a read of every vector.

From ``EPISODES_ANN_MIN_ROWS`` episodes on, the saved copy also holds a graph (usearch's HNSW, inner
product on the normalised vectors) that semantic search asks for candidates instead of scanning every
row. The graph is approximate; the rest is exact: candidates are rescored from the matrix, and every
row the graph does not hold as it is now (``ungraphed``: added or changed since the graph was last
updated) is scored exactly and merged in, so a stale graph never hides a new or changed episode. The
segmentation task keeps the graph current (:meth:`VectorIndex.graph_refresh`, incremental: only the
ungraphed rows are added); web processes only map it.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import connection
from usearch.index import Index

from atom.prepared import prepared_cursor
from episodes.embeddings import embedder_get
from episodes.models import Episode, EpisodeStatus, MemoryIndexVersion
from governance.models import Agent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SEARCHABLE = frozenset({EpisodeStatus.ACTIVE, EpisodeStatus.COMPLETED})


def epoch_us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding), for comparisons and gaps."""
    return (moment - _EPOCH) // _MICROSECOND


@dataclass
class AgentVectors:
    """One agent's searchable vectors, grown by doubling; rows past ``size`` are unused capacity."""

    model: str
    dim: int
    version: int = -1
    size: int = 0
    ids: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    matrix: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    started_us: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    ended_us: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    importance: npt.NDArray[np.float32] = field(default_factory=lambda: np.zeros(0, np.float32))
    searchable: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    # Rows the graph does not hold as they are now (all of them while there is no graph).
    ungraphed: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    rows: dict[int, int] = field(default_factory=dict)
    # The approximate-search graph over row positions, memory-mapped from ``graph_path``, or None.
    graph: Index | None = None
    graph_path: Path | None = None
    # The saved copy's pointer file as last seen (its modification time), to notice a newer graph.
    pointer_ns: int = 0
    # Rows read from the database since this copy was loaded or last saved.
    unsaved_rows: int = 0

    @property
    def nbytes(self) -> int:
        return int(
            self.matrix.nbytes
            + self.ids.nbytes
            + self.started_us.nbytes
            + self.ended_us.nbytes
            + self.importance.nbytes
            + self.searchable.nbytes
            + self.ungraphed.nbytes
        )

    def _grow(self, needed: int) -> None:
        capacity = max(16, len(self.ids))
        while capacity < needed:
            capacity *= 2
        if capacity == len(self.ids) and self.matrix.shape[1] == self.dim:
            return

        def grown(array: npt.NDArray[np.generic], shape: tuple[int, ...]) -> npt.NDArray[np.generic]:
            out = np.zeros(shape, dtype=array.dtype)
            out[: self.size] = array[: self.size]
            return out

        self.ids = grown(self.ids, (capacity,))  # type: ignore[assignment]
        self.matrix = grown(self.matrix if self.matrix.shape[1] == self.dim else np.zeros((0, self.dim), np.float32), (capacity, self.dim))  # type: ignore[assignment]
        self.started_us = grown(self.started_us, (capacity,))  # type: ignore[assignment]
        self.ended_us = grown(self.ended_us, (capacity,))  # type: ignore[assignment]
        self.importance = grown(self.importance, (capacity,))  # type: ignore[assignment]
        self.searchable = grown(self.searchable, (capacity,))  # type: ignore[assignment]
        self.ungraphed = grown(self.ungraphed, (capacity,))  # type: ignore[assignment]

    def upsert(self, rows: Sequence[tuple[int, bytes | memoryview, str, str, datetime, datetime, float]]) -> None:
        """Insert or replace episodes given as (id, embedding sum, model, status, started_at, ended_at, importance).

        Vectorised: one buffer for all the vectors, one normalisation, fancy-indexed assignment.
        """
        if not rows:
            return
        self._grow(self.size + len(rows))
        width = self.dim * 4
        # Vectors of another embedder (or of another size) are not comparable with today's queries.
        usable = [model == self.model and len(raw) == width for _, raw, model, *_rest in rows]
        buffer = b"".join(bytes(row[1]) if ok else bytes(width) for row, ok in zip(rows, usable, strict=True))
        vectors = np.frombuffer(buffer, dtype="<f4").reshape(len(rows), self.dim).astype(np.float32)
        norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
        positions = np.empty(len(rows), dtype=np.int64)
        for index, row in enumerate(rows):
            position = self.rows.get(row[0])
            if position is None:
                position = self.rows[row[0]] = self.size
                self.size += 1
            positions[index] = position
        self.ids[positions] = [row[0] for row in rows]
        self.matrix[positions] = vectors / np.where(norms > 0, norms, 1.0)[:, None]
        self.started_us[positions] = [epoch_us(row[4]) for row in rows]
        self.ended_us[positions] = [epoch_us(row[5]) for row in rows]
        self.importance[positions] = [row[6] for row in rows]
        self.searchable[positions] = (norms > 0) & np.array([row[3] in _SEARCHABLE for row in rows])
        self.ungraphed[positions] = True

    def graph_candidates(self, query_vector: npt.NDArray[np.float32], limit: int) -> npt.NDArray[np.int64]:
        """Row positions to score exactly for a top-``limit`` query: the graph's nearest (as it holds
        them) and every ungraphed row. Requires a graph."""
        assert self.graph is not None
        ungraphed = np.flatnonzero(self.ungraphed[: self.size])
        count = min(len(self.graph), max(GRAPH_CANDIDATES, 4 * limit))
        found = np.asarray(self.graph.search(query_vector, count).keys, dtype=np.int64)
        found = found[found < self.size]
        return np.concatenate([found[~self.ungraphed[found]], ungraphed])


# --- The persistent copy ------------------------------------------------------------------------
#
# A process that meets an agent for the first time would otherwise read every vector of that agent from
# the database (seconds at 100 k episodes). It maps the agent's last saved arrays instead and reads from
# the database only what was stamped after the version they hold. The files are a cache of the database:
# any process on any machine rebuilds them, and a copy of another agent's past (an id reused after the
# database was recreated, a version ahead of the database) is ignored.

_ARRAYS = ("ids", "matrix", "started_us", "ended_us", "importance", "searchable", "ungraphed")
# Rows read from the database before a process saves a fresh copy; below this a stale copy costs less.
SAVE_AFTER_ROWS = 1000
# Ungraphed rows (scored exactly on every query) before the segmentation task adds them to the graph.
GRAPH_AFTER_ROWS = 1000
# Candidates asked of the graph per query (at least 4 x the limit): with the hashing embedder's many
# exact ties, 10 candidates find 0.76 of the exact top 10 at 100 k episodes, 50 or more find all.
GRAPH_CANDIDATES = 100
_GRAPH = {"metric": "ip", "dtype": "f32", "connectivity": 16, "expansion_add": 128, "expansion_search": 128}


_SAVES = itertools.count()


def _index_dir(model: str) -> Path:
    # A sentence model's name may hold a slash ("org/model"): one directory per embedder all the same.
    return Path(settings.VAR_DIR) / "vector-index" / model.replace("/", "_")


def _pointer(model: str, agent_id: int) -> Path:
    return _index_dir(model) / f"agent-{agent_id}.json"


def vectors_load(*, agent_id: int, model: str, dim: int, agent_created_us: int, version: int) -> AgentVectors | None:
    """The agent's saved vectors, memory-mapped copy-on-write (later upserts never touch the file), or None.

    None when there is no usable copy: missing or half-deleted files, another embedder or dimension,
    another agent under the same id, or a version the database has not reached.
    """
    try:
        meta = json.loads(_pointer(model, agent_id).read_text())
        if (meta["model"], meta["dim"], meta["agent_created_us"]) != (model, dim, agent_created_us) or meta["version"] > version:
            return None
        stem = _index_dir(model) / meta["stem"]
        arrays = {name: np.load(f"{stem}.{name}.npy", mmap_mode="c") for name in _ARRAYS}
        graph, graph_path = None, Path(f"{stem}.graph.usearch")
        if meta.get("graph"):
            graph = Index.restore(graph_path, view=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError):
        return None
    size = int(meta["size"])
    if graph is None:
        arrays["ungraphed"][:] = True
    loaded = AgentVectors(model=model, dim=dim, version=int(meta["version"]), size=size, **arrays)
    loaded.rows = dict(zip(loaded.ids[:size].tolist(), range(size), strict=True))
    loaded.graph, loaded.graph_path = graph, graph_path if graph is not None else None
    return loaded


def vectors_save(*, agent_id: int, vectors: AgentVectors, agent_created_us: int) -> None:
    """Save the agent's vectors (with some spare capacity) and point the agent's pointer file at them.

    Each save writes new files and replaces the pointer atomically, so a reader sees the old copy or
    the new one, never half of one; older copies are removed (a process that mapped one keeps it).
    """
    directory = _index_dir(vectors.model)
    directory.mkdir(parents=True, exist_ok=True)
    # A name no earlier save used: the copy being saved may be mapped from the previous one.
    stem = f"agent-{agent_id}.v{vectors.version}.{os.getpid()}.{threading.get_ident()}.{next(_SAVES)}"
    capacity = min(len(vectors.ids), vectors.size + max(1024, vectors.size // 8))
    for name in _ARRAYS:
        np.save(directory / f"{stem}.{name}.npy", np.ascontiguousarray(getattr(vectors, name)[:capacity]))
    graph_path = directory / f"{stem}.graph.usearch"
    graph = vectors.graph is not None and _graph_save(vectors, graph_path)
    meta = {
        "model": vectors.model, "dim": vectors.dim, "version": vectors.version, "size": vectors.size,
        "agent_created_us": agent_created_us, "stem": stem, "graph": graph,
    }  # fmt: skip
    pointer = _pointer(vectors.model, agent_id)
    temporary = pointer.with_name(f"{stem}.json")
    temporary.write_text(json.dumps(meta))
    os.replace(temporary, pointer)
    for old in directory.glob(f"agent-{agent_id}.v*"):
        if not old.name.startswith(f"{stem}."):
            old.unlink(missing_ok=True)
    if graph:
        # Map the saved graph (one graph in memory per machine, in the page cache, not one per process).
        vectors.graph, vectors.graph_path = Index.restore(graph_path, view=True), graph_path


def _graph_save(vectors: AgentVectors, path: Path) -> bool:
    """Write the copy's graph beside its arrays; False when there is none to write (the mapped file of
    another copy was removed meanwhile: the new copy then has no graph, and all its rows count as ungraphed)."""
    assert vectors.graph is not None
    if vectors.graph_path is None:
        vectors.graph.save(str(path))
        return True
    try:
        os.link(vectors.graph_path, path)  # the mapped graph is unchanged: share its file
    except OSError:
        return False
    return True


def graph_update(vectors: AgentVectors) -> int:
    """Add the copy's ungraphed rows to its graph (replacing changed ones), building the graph when there
    is none; the copy then holds the graph in memory, unsaved. Returns the number of rows added."""
    pending = np.flatnonzero(vectors.ungraphed[: vectors.size])
    graph = None
    if vectors.graph_path is not None:
        try:
            graph = Index.restore(vectors.graph_path, view=False)  # a writable copy of the mapped graph
        except (OSError, RuntimeError, ValueError):
            graph = None
    elif vectors.graph is not None:
        graph = vectors.graph
    if graph is None:
        graph = Index(ndim=vectors.dim, **_GRAPH)  # type: ignore[arg-type]
        pending = np.arange(vectors.size)
    if len(graph) and len(pending):
        held = pending[np.asarray(graph.contains(pending), dtype=bool)]
        if len(held):
            graph.remove(held)
    if len(pending):
        graph.add(pending, vectors.matrix[pending], threads=0)
    vectors.graph, vectors.graph_path = graph, None
    vectors.ungraphed[pending] = False
    return len(pending)


def _pointer_ns(model: str, agent_id: int) -> int:
    try:
        return _pointer(model, agent_id).stat().st_mtime_ns
    except OSError:
        return 0


def _graph_behind(vectors: AgentVectors, agent_id: int) -> bool:
    """Whether this process should map a newer saved copy: its own has many ungraphed rows (scored
    exactly on every query) and the saved copy changed since it was mapped (the segmentation task
    updated the graph). One stat of the pointer file, and only for agents large enough for a graph."""
    return (
        vectors.size >= settings.EPISODES_ANN_MIN_ROWS
        and int(np.count_nonzero(vectors.ungraphed[: vectors.size])) >= GRAPH_AFTER_ROWS
        and _pointer_ns(vectors.model, agent_id) != vectors.pointer_ns
    )


@lru_cache(maxsize=4)
def _version_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    versions, agents = quote(MemoryIndexVersion._meta.db_table), quote(Agent._meta.db_table)
    return (
        f"SELECT v.version, a.created_at FROM {versions} v INNER JOIN {agents} a ON a.id = v.agent_id "  # noqa: S608  # nosec B608 - identifiers from the models, the id bound
        "WHERE v.agent_id = %s"
    )


def _version_read(agent_id: int) -> tuple[int, int]:
    """The agent's index version and creation time (epoch microseconds), or (0, 0) before its first episode.

    Every semantic query starts here, so it is one prepared statement rather than an ORM query compiled
    per call (a fifth of a semantic query's time at 10 k episodes, P5 profile).
    """
    with prepared_cursor() as cursor:
        cursor.execute(_version_sql(connection.vendor), [agent_id])
        found = cursor.fetchone()
    if found is None:
        return 0, 0
    created = found[1] if found[1].tzinfo is not None else found[1].replace(tzinfo=UTC)
    return int(found[0]), epoch_us(created)


class VectorIndex:
    """Per-process cache of :class:`AgentVectors`, kept current against the database."""

    def __init__(self) -> None:
        self._agents: OrderedDict[int, AgentVectors] = OrderedDict()
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._agents.clear()

    def vectors_for(self, agent_id: int) -> AgentVectors:
        """The agent's vectors as of the latest committed version (one query when nothing changed)."""
        embedder = embedder_get()
        version, created_us = _version_read(agent_id)
        with self._lock:
            current = self._agents.get(agent_id)
            if current is not None and current.model != embedder.name:
                current = None
            if current is None or _graph_behind(current, agent_id):
                saved = (
                    vectors_load(agent_id=agent_id, model=embedder.name, dim=embedder.dim, agent_created_us=created_us, version=version)
                    if version
                    else None
                )
                current = saved or current or AgentVectors(model=embedder.name, dim=embedder.dim)
                current.pointer_ns = _pointer_ns(embedder.name, agent_id)
            if current.version != version:
                rows = list(
                    Episode.objects.filter(agent_id=agent_id, index_version__gt=current.version)
                    .order_by("id")
                    .values_list("id", "embedding", "embedding_model", "status", "started_at", "ended_at", "importance")
                )
                current.upsert(rows)
                current.version = version
                current.unsaved_rows += len(rows)
                if current.unsaved_rows >= SAVE_AFTER_ROWS:
                    vectors_save(agent_id=agent_id, vectors=current, agent_created_us=created_us)
                    current.unsaved_rows = 0
            self._agents[agent_id] = current
            self._agents.move_to_end(agent_id)
            self._evict()
            return current

    def graph_refresh(self, agent_id: int) -> int:
        """Bring the agent's graph up to date and save the copy; the number of rows added (0 when the
        agent is below ``EPISODES_ANN_MIN_ROWS`` or fewer than ``GRAPH_AFTER_ROWS`` rows wait).

        Incremental: only the ungraphed rows are added (a changed row replaces its old entry). Run by the
        segmentation task, never on a request: building the first graph of 100 k episodes takes seconds.
        """
        vectors = self.vectors_for(agent_id)
        with self._lock:
            pending = np.flatnonzero(vectors.ungraphed[: vectors.size])
            if (
                vectors.size == 0
                or vectors.size < settings.EPISODES_ANN_MIN_ROWS
                or (vectors.graph is not None and len(pending) < GRAPH_AFTER_ROWS)
            ):
                return 0
            added = graph_update(vectors)
            _version, created_us = _version_read(agent_id)
            vectors_save(agent_id=agent_id, vectors=vectors, agent_created_us=created_us)
            vectors.unsaved_rows = 0
            return added

    def _evict(self) -> None:
        budget = settings.EPISODES_VECTOR_CACHE_MB * 1024 * 1024
        while len(self._agents) > 1 and sum(vectors.nbytes for vectors in self._agents.values()) > budget:
            self._agents.popitem(last=False)


vector_index = VectorIndex()
