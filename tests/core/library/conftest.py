"""Makes ``model_files`` (in tests/core/metadata) importable; a fresh data dir per test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metadata"))

from lorastudio.core.library.catalog import Catalog
from lorastudio.core.paths import DataDir


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "data").ensure()


@pytest.fixture
def catalog(data: DataDir) -> Iterator[Catalog]:
    with Catalog(data.catalog_db) as cat:
        yield cat
