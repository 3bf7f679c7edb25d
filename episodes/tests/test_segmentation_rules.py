"""The segmentation rules of SPEC section 5 on pure inputs: exact boundaries and the invariants."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from episodes.segmentation import SegmentationRules, Segmenter, segment_plan

MINUTE_US = 60 * 1_000_000
RULES = SegmentationRules(gap_us=30 * MINUTE_US, similarity=0.75, max_size=200)
DIM = 8


def unit(index: int) -> np.ndarray:
    vector = np.zeros(DIM, dtype=np.float32)
    vector[index % DIM] = 1.0
    return vector


def is_partition(ranges, size):
    expected = 0
    for start, end in ranges:
        if start != expected or end < start:
            return False
        expected = end + 1
    return expected == size


def test_a_gap_of_exactly_thirty_minutes_does_not_split():
    items = [(0, unit(0)), (30 * MINUTE_US, unit(0))]
    assert segment_plan(items, RULES, DIM) == [(0, 1)]


def test_a_gap_of_thirty_minutes_and_one_second_splits_at_the_later_interaction():
    items = [(0, unit(0)), (30 * MINUTE_US + 1_000_000, unit(0))]
    assert segment_plan(items, RULES, DIM) == [(0, 0), (1, 1)]


def test_a_gap_of_thirty_minutes_and_one_microsecond_splits():
    assert segment_plan([(0, unit(0)), (30 * MINUTE_US + 1, unit(0))], RULES, DIM) == [(0, 0), (1, 1)]


def test_a_topic_change_starts_a_new_segment_at_the_changed_interaction():
    items = [(i * MINUTE_US, unit(0)) for i in range(3)] + [(3 * MINUTE_US, unit(1))]
    assert segment_plan(items, RULES, DIM) == [(0, 2), (3, 3)]


def test_similarity_exactly_at_the_threshold_does_not_split():
    running = np.array([1.0, 0, 0, 0, 0, 0, 0, 0], dtype=np.float32)
    at_threshold = np.array([0.75, np.sqrt(1 - 0.75**2), 0, 0, 0, 0, 0, 0], dtype=np.float32)
    rules = SegmentationRules(gap_us=RULES.gap_us, similarity=float(running @ at_threshold), max_size=200)
    assert segment_plan([(0, running), (1, at_threshold)], rules, DIM) == [(0, 1)]


def test_similarity_is_measured_against_the_running_segment_not_the_previous_interaction():
    # a, then b at 45 degrees from a: b is 0.707 from a (a split at 0.75) ...
    a = np.array([1, 0, 0, 0, 0, 0, 0, 0], dtype=np.float32)
    b = np.array([np.sqrt(0.5), np.sqrt(0.5), 0, 0, 0, 0, 0, 0], dtype=np.float32)
    rules = SegmentationRules(gap_us=RULES.gap_us, similarity=0.7, max_size=200)
    # ... but against the running sum (a + a + a) the similarity is the same 0.707: no split at 0.7.
    assert segment_plan([(0, a), (1, a), (2, a), (3, b)], rules, DIM) == [(0, 3)]


def test_a_full_segment_starts_a_new_one():
    items = [(i, unit(0)) for i in range(5)]
    assert segment_plan(items, SegmentationRules(gap_us=RULES.gap_us, similarity=0.75, max_size=2), DIM) == [(0, 1), (2, 3), (4, 4)]


def test_an_interaction_without_text_never_splits_on_topic():
    empty = np.zeros(DIM, dtype=np.float32)
    assert segment_plan([(0, unit(0)), (1, empty), (2, unit(0))], RULES, DIM) == [(0, 2)]


def test_an_empty_input_has_no_segments():
    assert segment_plan([], RULES, DIM) == []


def test_absorbing_a_running_segment_resumes_exactly_where_it_stopped():
    items = [(i * MINUTE_US, unit(i // 3)) for i in range(9)]
    assert segment_plan(items, RULES, DIM)[-1] == (6, 8)
    resumed = Segmenter(RULES, DIM)
    resumed.absorb_many([items[6][0]], np.vstack([items[6][1]]))
    assert resumed.feed_many([at for at, _ in items[7:]], np.vstack([vector for _, vector in items[7:]])) == []


def test_feeding_in_chunks_cuts_like_feeding_at_once():
    items = [(i * 7 * MINUTE_US, unit((i * i) % 5 // 2)) for i in range(40)]
    whole = Segmenter(RULES, DIM).feed_many([at for at, _ in items], np.vstack([v for _, v in items]))
    chunked = Segmenter(RULES, DIM)
    starts = []
    for offset in range(0, 40, 6):
        part = items[offset : offset + 6]
        starts += [offset + i for i in chunked.feed_many([at for at, _ in part], np.vstack([v for _, v in part]))]
    assert starts == whole


item_lists = st.lists(
    st.tuples(st.integers(min_value=0, max_value=90 * MINUTE_US), st.integers(min_value=0, max_value=3)),
    min_size=0,
    max_size=120,
)


def as_items(raw):
    at = 0
    items = []
    for delta, topic in raw:
        at += delta
        items.append((at, unit(topic)))
    return items


@settings(max_examples=300, deadline=None)
@given(raw=item_lists, max_size=st.integers(min_value=1, max_value=50), similarity=st.floats(min_value=0.0, max_value=1.0))
def test_every_interaction_lands_in_exactly_one_non_empty_ordered_segment(raw, max_size, similarity):
    items = as_items(raw)
    rules = SegmentationRules(gap_us=30 * MINUTE_US, similarity=similarity, max_size=max_size)
    ranges = segment_plan(items, rules, DIM)
    assert is_partition(ranges, len(items))
    assert all(end - start + 1 <= max_size for start, end in ranges)
    covered = [index for start, end in ranges for index in range(start, end + 1)]
    assert covered == list(range(len(items)))


def splits(items, start, end, index, rules):
    """The SPEC rule, written independently: does items[index] start a new segment after start..end?"""
    if end - start + 1 >= rules.max_size or items[index][0] - items[end][0] > rules.gap_us:
        return True
    running = sum((items[i][1].astype(np.float64) for i in range(start, end + 1)), np.zeros(DIM))
    vector = items[index][1]
    if not vector.any() or np.linalg.norm(running) <= 1e-6:
        return False
    return float(vector @ running) / (np.linalg.norm(running) * np.linalg.norm(vector)) < rules.similarity


@settings(max_examples=200, deadline=None)
@given(raw=item_lists)
def test_segmentation_is_idempotent_and_cuts_exactly_where_the_rules_say(raw):
    items = as_items(raw)
    ranges = segment_plan(items, RULES, DIM)
    assert segment_plan(items, RULES, DIM) == ranges
    for number, (start, end) in enumerate(ranges):
        for index in range(start + 1, end + 1):
            assert not splits(items, start, index - 1, index, RULES)
        if number + 1 < len(ranges):
            assert splits(items, start, end, end + 1, RULES)
