"""Text embeddings behind one small interface.

Two implementations:

- :class:`HashingEmbedder` (the default) needs no download and no model: it hashes word unigrams and
  character trigrams into a fixed number of signed buckets (the "hashing trick") with numpy, for a
  whole batch of texts at once. It is deterministic across processes and machines (no use of Python's
  salted ``hash``), so stored vectors stay comparable forever.
- :class:`SentenceEmbedder` wraps a real sentence model from the ``sentence_transformers`` package,
  used only when that package is importable and the settings ask for it.

Every vector is float32, L2-normalised (an empty text gives the zero vector), and is stored as raw
float32 bytes so that semantic search never re-embeds the corpus.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from django.conf import settings

Matrix = npt.NDArray[np.float32]

_WORD_WEIGHT = 1.0
_TRIGRAM_WEIGHT = 0.5
# Odd 32-bit multipliers for multiplicative hashing; uint32 arithmetic wraps modulo 2**32 by design.
_MIX_A = np.uint32(0x9E3779B1)
_MIX_B = np.uint32(0x85EBCA77)
_POSITION_SALTS = (np.random.Generator(np.random.PCG64(20260101)).integers(1, 2**31, size=64, dtype=np.uint32) * 2 + 1).astype(np.uint32)
# A byte is a word character when it is an ASCII letter or digit, or part of a multi-byte UTF-8 sequence.
_WORD_BYTE = np.zeros(256, dtype=bool)
for _b in b"abcdefghijklmnopqrstuvwxyz0123456789":
    _WORD_BYTE[_b] = True
_WORD_BYTE[128:] = True


class Embedder(Protocol):
    """Turns texts into unit vectors of a fixed dimension."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Return a (len(texts), dim) float32 matrix of L2-normalised rows."""
        ...


def _normalise(matrix: npt.NDArray[Any]) -> Matrix:
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))[:, None]
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return matrix.astype(np.float32, copy=False)


class HashingEmbedder:
    """Feature hashing of lower-cased word unigrams and character trigrams, vectorised over a batch."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.name = f"hashing-v1-{dim}"

    def embed(self, texts: Sequence[str]) -> Matrix:
        count = len(texts)
        if count == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        # NUL separates texts in one byte buffer; a NUL inside a text is only a separator too.
        encoded = [text.lower().encode("utf-8", "replace") for text in texts]
        buffer = np.frombuffer(b"\x00".join(encoded) + b"\x00", dtype=np.uint8)
        lengths = np.fromiter((len(item) + 1 for item in encoded), dtype=np.int64, count=count)
        owner = np.repeat(np.arange(count, dtype=np.int64), lengths)
        hashes, owners, weights = self._features(buffer, owner)
        mixed = hashes * _MIX_B
        buckets = (mixed >> 8) % np.uint32(self.dim)
        signed = np.where(mixed & 1, weights, -weights)
        bucket_sums = np.bincount(owners * self.dim + buckets, weights=signed, minlength=count * self.dim)
        # bincount returns integers when there is no feature at all (only empty texts).
        return _normalise(bucket_sums.astype(np.float64, copy=False).reshape(count, self.dim))

    def _features(
        self, buffer: npt.NDArray[np.uint8], owner: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Hashes, owning text and weight of every feature (character trigrams, then words)."""
        hashes: list[npt.NDArray[np.uint32]] = []
        owners: list[npt.NDArray[np.int64]] = []
        weights: list[npt.NDArray[np.float64]] = []
        if buffer.size >= 3:
            first, second, third = buffer[:-2], buffer[1:-1], buffer[2:]
            # A trigram never spans two texts (no separator inside it).
            keep = (first != 0) & (second != 0) & (third != 0)
            codes = (first[keep].astype(np.uint32) << 16) | (second[keep].astype(np.uint32) << 8) | third[keep]
            hashes.append(codes * _MIX_A)
            owners.append(owner[:-2][keep])
            weights.append(np.full(codes.size, _TRIGRAM_WEIGHT))
        positions = np.flatnonzero(_WORD_BYTE[buffer])
        if positions.size:
            starts_mask = np.ones(positions.size, dtype=bool)
            starts_mask[1:] = positions[1:] - positions[:-1] != 1
            word_starts = np.flatnonzero(starts_mask)
            offset_in_word = np.arange(positions.size) - word_starts[np.cumsum(starts_mask) - 1]
            # Each byte is multiplied by a salt that depends on its position in the word, then summed per word.
            contributions = (buffer[positions].astype(np.uint32) + np.uint32(1)) * _POSITION_SALTS[offset_in_word & 63]
            word_hashes = np.add.reduceat(contributions, word_starts, dtype=np.uint32)
            hashes.append(word_hashes * _MIX_A)
            owners.append(owner[positions[word_starts]])
            weights.append(np.full(word_starts.size, _WORD_WEIGHT))
        if not hashes:
            return np.zeros(0, np.uint32), np.zeros(0, np.int64), np.zeros(0, np.float64)
        return np.concatenate(hashes), np.concatenate(owners), np.concatenate(weights)


class SentenceEmbedder:
    """A real sentence model (sentence-transformers), loaded once per process from a local package."""

    def __init__(self, model_name: str) -> None:
        from sentence_transformers import SentenceTransformer  # type: ignore[import-not-found]

        self._model = SentenceTransformer(model_name)
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.name = f"sentence-{model_name}-{self.dim}"

    def embed(self, texts: Sequence[str]) -> Matrix:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(list(texts), batch_size=64, convert_to_numpy=True, show_progress_bar=False)
        return _normalise(np.asarray(vectors, dtype=np.float64))


def sentence_model_available() -> bool:
    """Whether the optional sentence-transformers package can be imported here."""
    return importlib.util.find_spec("sentence_transformers") is not None


@lru_cache(maxsize=4)
def _embedder_build(kind: str, dim: int, model_name: str) -> Embedder:
    if kind == "sentence" and sentence_model_available():
        return SentenceEmbedder(model_name)
    return HashingEmbedder(dim)


def embedder_get() -> Embedder:
    """The configured embedder (one instance per process and configuration).

    ``EPISODES_EMBEDDER = "sentence"`` falls back to hashing when the package is missing, so a machine
    without the model still segments and searches (vectors record the embedder's name, see models).
    """
    return _embedder_build(settings.EPISODES_EMBEDDER, settings.EPISODES_EMBEDDING_DIM, settings.EPISODES_SENTENCE_MODEL)


def vector_to_bytes(vector: npt.NDArray[Any]) -> bytes:
    """Serialise a vector as little-endian float32 bytes."""
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_from_bytes(raw: bytes | memoryview) -> Matrix:
    """The inverse of :func:`vector_to_bytes`."""
    return np.frombuffer(bytes(raw), dtype="<f4").astype(np.float32)
