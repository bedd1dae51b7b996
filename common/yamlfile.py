"""The project's own YAML files (knowledge, domain.yml, texts.yml) read as `yaml.safe_load`
does, with PyYAML's C parser (libyaml, inside the PyYAML wheel) when it is there: the same
documents, about ten times faster (the knowledge files: 0.64 s of CPU → 0.07 s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read(path: Path) -> Any:
    """The document in `path` (UTF-8), built like `yaml.safe_load` builds it."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
