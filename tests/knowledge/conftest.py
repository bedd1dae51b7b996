"""Fixtures for the knowledge tests: the real knowledge base and the shared spec and fact sheet."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.base import ROOT_SHARED, KnowledgeBase, load


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load()


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared inputs beside the repository (../shared); CI has them, so a missing folder fails."""
    assert ROOT_SHARED.is_dir(), f"the shared folder is missing: {ROOT_SHARED}"
    return ROOT_SHARED


@pytest.fixture(scope="session")
def spec(shared: Path) -> Path:
    path = shared / "spec" / "knowledge-ids.md"
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def fact_sheet(shared: Path) -> Path:
    path = shared / "reference" / "policy-facts.md"
    assert path.is_file(), path
    return path
