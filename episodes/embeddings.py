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
# A feature's code is multiplied by _MIX_A, then by _MIX_B: modulo 2**32 that is one multiplication.
_MIX_AB = np.uint32((int(_MIX_A) * int(_MIX_B)) % 2**32)
_POSITION_SALTS = (np.random.Generator(np.random.PCG64(20260101)).integers(1, 2**31, size=64, dtype=np.uint32) * 2 + 1).astype(np.uint32)
# A byte is a word character when it is an ASCII letter or digit, or part of a multi-byte UTF-8 sequence.
_WORD_BYTE = np.zeros(256, dtype=bool)
for _b in b"abcdefghijklmnopqrstuvwxyz0123456789":
    _WORD_BYTE[_b] = True
_WORD_BYTE[128:] = True
# Texts hashed per block: a block's temporaries stay small enough for the CPU caches (a 2,000-text
# chunk at once took about twice as long per text).
_BLOCK = 128


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
        matrix = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), _BLOCK):
            matrix[start : start + _BLOCK] = self._embed_block(texts[start : start + _BLOCK])
        return matrix

    def _embed_block(self, texts: Sequence[str]) -> Matrix:
        count = len(texts)
        # NUL separates texts in one byte buffer; a NUL inside a text is only a separator too.
        encoded = [text.lower().encode("utf-8", "replace") for text in texts]
        buffer = np.frombuffer(b"\x00".join(encoded) + b"\x00", dtype=np.uint8)
        lengths = np.fromiter((len(item) + 1 for item in encoded), dtype=np.intp, count=count)
        # Each byte carries the offset of its text's row in the flattened (count, dim) sums.
        row_of_byte = np.repeat(np.arange(0, count * self.dim, self.dim, dtype=np.intp), lengths)
        sums = np.zeros(count * self.dim, dtype=np.float64)
        if buffer.size >= 3:
            wide = buffer.astype(np.uint32)
            codes = (wide[:-2] << 16) | (wide[1:-1] << 8) | wide[2:]
            # A trigram never spans two texts (no separator inside it).
            keep = (buffer[:-2] != 0) & (buffer[1:-1] != 0) & (buffer[2:] != 0)
            self._add(sums, codes[keep], row_of_byte[:-2][keep], _TRIGRAM_WEIGHT)
        positions = np.flatnonzero(_WORD_BYTE[buffer])
        if positions.size:
            starts_mask = np.empty(positions.size, dtype=bool)
            starts_mask[0] = True
            np.not_equal(positions[1:] - positions[:-1], 1, out=starts_mask[1:])
            word_starts = np.flatnonzero(starts_mask)
            offset_in_word = np.arange(positions.size) - word_starts[np.cumsum(starts_mask) - 1]
            # Each byte is multiplied by a salt that depends on its position in the word, then summed per word.
            contributions = (buffer[positions].astype(np.uint32) + np.uint32(1)) * _POSITION_SALTS[offset_in_word & 63]
            word_hashes = np.add.reduceat(contributions, word_starts, dtype=np.uint32)
            self._add(sums, word_hashes, row_of_byte[positions[word_starts]], _WORD_WEIGHT)
        return _normalise(sums.reshape(count, self.dim))

    def _add(self, sums: npt.NDArray[np.float64], codes: npt.NDArray[np.uint32], rows: npt.NDArray[np.intp], weight: float) -> None:
        """Add each feature's signed weight to its bucket: the bucket and the sign come from its mixed hash."""
        mixed = codes * _MIX_AB
        # For a power of two, the modulo is a mask (the same buckets, cheaper).
        buckets = (mixed >> 8) & np.uint32(self.dim - 1) if self.dim & (self.dim - 1) == 0 else (mixed >> 8) % np.uint32(self.dim)
        signed = np.where(mixed & 1, weight, -weight)
        # The sums are of halves and ones, exact in float64, so adding trigrams and words apart changes no bit.
        sums += np.bincount(rows + buckets, weights=signed, minlength=sums.size)


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
