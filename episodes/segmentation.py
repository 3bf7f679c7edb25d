"""The segmentation rules of SPEC section 5, as pure code (no database), so they can be property-tested.

Interactions are fed in time order. A new segment starts at an interaction that

1. comes strictly more than ``gap_us`` after the previous one (exactly the gap does not split), or
2. whose cosine similarity to the running segment falls below ``similarity`` — the running segment is
   the sum of its interactions' unit vectors, so the similarity is ``v·S / |S|``, or
3. arrives when the running segment already holds ``max_size`` interactions.

The interaction at a boundary starts the new segment. An interaction with an empty vector (no text)
carries no topic: it never splits on similarity and does not move the running topic.

The state of the running segment (count, last timestamp, vector sum and its squared norm) is all the
rules need, so a session can be segmented in bounded memory, chunk by chunk, and resumed later by
replaying the running segment's interactions through :meth:`Segmenter.absorb`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class SegmentationRules:
    """The thresholds; the settings provide them (see ``segmentation_rules_from_settings``)."""

    gap_us: int
    similarity: float
    max_size: int


class Segmenter:
    """Decides, chunk by chunk, where segments start; keeps the running segment's state in between."""

    def __init__(self, rules: SegmentationRules, dim: int) -> None:
        self.rules = rules
        self.count = 0
        self.last_us: int | None = None
        self.total = np.zeros(dim, dtype=np.float64)
        self.total_sq = 0.0

    def absorb_many(self, at_us: Sequence[int], vectors: npt.NDArray[np.float32]) -> None:
        """Add interactions to the running segment without testing the rules (used to resume)."""
        self._run(at_us, vectors, test=False)

    def feed_many(self, at_us: Sequence[int], vectors: npt.NDArray[np.float32]) -> list[int]:
        """Add the next interactions in order; return the positions (in this chunk) that start a segment."""
        return self._run(at_us, vectors, test=True)

    def _run(self, at_us: Sequence[int], vectors: npt.NDArray[np.float32], *, test: bool) -> list[int]:
        # One tight loop per chunk with the state in locals: this runs once per interaction.
        rows = np.asarray(vectors, dtype=np.float64)
        squares = np.einsum("ij,ij->i", rows, rows).tolist()
        gap_us, max_size, threshold = self.rules.gap_us, self.rules.max_size, self.rules.similarity
        total, total_sq, count, last_us = self.total, self.total_sq, self.count, self.last_us
        starts: list[int] = []
        for index, at in enumerate(at_us):
            vector = rows[index]
            square = squares[index]
            dot = float(vector @ total)
            if test:
                new = count == 0 or count >= max_size or (last_us is not None and at - last_us > gap_us)
                if not new and square > 0.0 and total_sq > 1e-12 and dot / math.sqrt(total_sq * square) < threshold:
                    new = True
                if new:
                    starts.append(index)
                    total[:] = 0.0
                    total_sq, count, dot = 0.0, 0, 0.0
            total += vector
            total_sq += 2.0 * dot + square
            count += 1
            last_us = at
        self.total_sq, self.count, self.last_us = total_sq, count, last_us
        return starts


def segment_plan(items: Sequence[tuple[int, npt.NDArray[np.float32]]], rules: SegmentationRules, dim: int) -> list[tuple[int, int]]:
    """Cut a whole input (timestamps in microseconds, unit vectors) into inclusive index ranges."""
    if not items:
        return []
    vectors = np.vstack([vector for _, vector in items]).astype(np.float32)
    starts = Segmenter(rules, dim).feed_many([at for at, _ in items], vectors)
    ends = [start - 1 for start in starts[1:]] + [len(items) - 1]
    return list(zip(starts, ends, strict=True))
