"""knowledge/embedding.py: the direct forward path gives sentence-transformers' own vectors."""

from __future__ import annotations

import numpy as np
import pytest

from knowledge.embedding import DIRECT_BATCH, PREFIX, Embedder, embedder

TEXTS = ["护理补贴怎么申请", "好", "我妈瘫在床上三年了 那个护理补贴能不能领 去哪里办", "殘疾人證", "x" * 600]


@pytest.fixture(scope="module")
def model() -> Embedder:
    return embedder()


def test_the_model_is_read_directly(model: Embedder) -> None:
    assert model._direct is not None  # e5-small is transformer → mean pooling → normalize


def test_direct_vectors_are_sentence_transformers_vectors(model: Embedder) -> None:
    items = [PREFIX + t[:400] for t in TEXTS]
    reference = model._model.encode(items, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    one_by_one = np.concatenate([model.encode([t]) for t in TEXTS])
    together = model.encode(TEXTS)  # one padded batch
    assert len(TEXTS) <= DIRECT_BATCH
    np.testing.assert_allclose(one_by_one, reference, atol=1e-5)
    np.testing.assert_allclose(together, reference, atol=1e-5)
    assert one_by_one.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(one_by_one, axis=1), 1.0, atol=1e-5)


def test_a_long_list_goes_through_sentence_transformers(model: Embedder) -> None:
    texts = [f"护理补贴 第{i}个问题" for i in range(DIRECT_BATCH + 3)]
    np.testing.assert_allclose(model.encode(texts)[:2], model.encode(texts[:2]), atol=1e-5)
