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

from collections.abc import Iterable
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
    """Decides, one interaction at a time, where segments start."""

    def __init__(self, rules: SegmentationRules, dim: int) -> None:
        self.rules = rules
        self.count = 0
        self.last_us: int | None = None
        self.total = np.zeros(dim, dtype=np.float64)
        self.total_sq = 0.0

    def _reset(self) -> None:
        self.count = 0
        self.total[:] = 0.0
        self.total_sq = 0.0

    def absorb(self, at_us: int, vector: npt.NDArray[np.float32]) -> None:
        """Add an interaction to the running segment without testing the rules (used to resume)."""
        dot = float(vector @ self.total)
        self.total += vector
        self.total_sq += 2.0 * dot + float(vector @ vector)
        self.count += 1
        self.last_us = at_us

    def feed(self, at_us: int, vector: npt.NDArray[np.float32]) -> bool:
        """Add the next interaction; return True when it starts a new segment."""
        rules = self.rules
        starts = False
        if self.count == 0 or self.count >= rules.max_size or (self.last_us is not None and at_us - self.last_us > rules.gap_us):
            starts = True
        else:
            vector_sq = float(vector @ vector)
            if vector_sq > 0.0 and self.total_sq > 1e-12:
                dot = float(vector @ self.total)
                if dot / (self.total_sq**0.5 * vector_sq**0.5) < rules.similarity:
                    starts = True
        if starts:
            self._reset()
        self.absorb(at_us, vector)
        return starts


def segment_plan(items: Iterable[tuple[int, npt.NDArray[np.float32]]], rules: SegmentationRules, dim: int) -> list[tuple[int, int]]:
    """Cut a whole input (timestamps in microseconds, unit vectors) into inclusive index ranges."""
    segmenter = Segmenter(rules, dim)
    ranges: list[tuple[int, int]] = []
    for index, (at_us, vector) in enumerate(items):
        if segmenter.feed(at_us, vector):
            if ranges:
                ranges[-1] = (ranges[-1][0], index - 1)
            ranges.append((index, index))
    if ranges:
        ranges[-1] = (ranges[-1][0], index)
    return ranges
