"""The embedders: deterministic unit vectors, similar texts closer, stored as float32 bytes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from episodes.embeddings import HashingEmbedder, embedder_get, sentence_model_available, vector_from_bytes, vector_to_bytes


def test_vectors_are_unit_length_float32_and_empty_text_is_zero():
    vectors = HashingEmbedder(64).embed(["deploy the billing service", "", "héllo wörld ✓"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 64)
    assert np.allclose(np.linalg.norm(vectors, axis=1), [1, 0, 1], atol=1e-5)


@pytest.mark.regression("BUG-019")
def test_a_batch_of_only_empty_texts_gives_zero_vectors():
    assert not HashingEmbedder(32).embed(["", "!!"]).any()


def test_similar_texts_are_closer_than_unrelated_ones():
    a, b, c = HashingEmbedder(256).embed(
        ["the deploy pipeline failed on staging", "deploy pipeline failed again on staging", "a chocolate cake with cream"]
    )
    assert a @ b > 0.7
    assert a @ c < 0.3


def test_a_text_embeds_the_same_alone_or_in_a_batch():
    embedder = HashingEmbedder(128)
    batch = embedder.embed(["first text", "second text here", "third"])
    assert np.array_equal(embedder.embed(["second text here"])[0], batch[1])


def test_vectors_are_the_same_in_another_process():
    # Python's str hash is salted per process; the hashing embedder must not depend on it.
    code = (
        "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'atom.settings_test');"
        "from episodes.embeddings import HashingEmbedder; print(HashingEmbedder(32).embed(['same text'])[0].tobytes().hex())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "123"}
    )
    assert other.stdout.strip() == HashingEmbedder(32).embed(["same text"])[0].tobytes().hex()


def test_vectors_round_trip_through_bytes():
    vector = HashingEmbedder(16).embed(["round trip"])[0]
    assert np.array_equal(vector_from_bytes(vector_to_bytes(vector)), vector)
    assert len(vector_to_bytes(vector)) == 16 * 4


def test_the_default_embedder_is_the_hashing_one():
    assert isinstance(embedder_get(), HashingEmbedder)


@pytest.mark.skipif(not sentence_model_available(), reason="sentence-transformers is not installed (optional real model)")
def test_the_sentence_model_ranks_paraphrases_closer(settings):
    from episodes.embeddings import SentenceEmbedder

    embedder = SentenceEmbedder(settings.EPISODES_SENTENCE_MODEL)
    a, b, c = embedder.embed(["The deployment failed.", "Shipping the release did not work.", "I baked a cake."])
    assert a @ b > a @ c


def test_vectors_keep_the_bytes_stored_by_earlier_versions():
    # Stored vectors are never re-embedded: any change to the hashing must leave every bit as it was.
    texts = ["deploy the billing service", "", "héllo wörld ✓", "a\x00b", "ΣΑΣ İstanbul", "x" * 300] * 50
    digests = {dim: hashlib.sha256(HashingEmbedder(dim).embed(texts).tobytes()).hexdigest() for dim in (64, 100)}
    assert digests == {
        64: "903b5cb6116029f6df7c905dd7b3a3b8c22f48c575af3c09c404c77d8ce757aa",
        100: "a3c12b857ff88248ca954b865256637e1998e6637c6cb7e4eb47e3d23484a4c3",
    }
