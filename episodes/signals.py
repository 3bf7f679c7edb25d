"""What an episode says about itself, read from its text: preview, topics, summary signals and importance.

Pure functions over interactions; segmentation calls them while it builds episodes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from episodes.models import (
    Outcome,
)

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


def _preview(content: str, limit: int = 160) -> str:
    text = _SPACES.sub(" ", content).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
