"""The Images library shows no language models or text adapters (issue 16, item 3)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "metadata"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "library"))

from model_files import kohya_sd15, write
from test_text_mode_entries import write_gpt2_folder, write_text_adapter

from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scanner import scan
from lorastudio.core.paths import DataDir
from lorastudio.core.types import ModelKind
from lorastudio.qt.models.library_model import LibraryModel, LibraryQuery
from lorastudio.qt.widgets.library_toolbar import LibraryToolbar


def test_images_library_leaves_out_text_models_and_adapters(qtbot, tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data").ensure()
    lora = write(data.loras / "ink.safetensors", kohya_sd15())
    write_gpt2_folder(data.text_models / "tiny-gpt2-demo")
    write_text_adapter(data.text_adapters / "tiny-cats")
    with Catalog(data.catalog_db) as catalog:
        scan(catalog, [data.models])
        records = catalog.records()
    assert len(records) == 3
    model = LibraryModel()
    model.set_records(records)
    model.set_current_base("sd1")
    model.set_query(LibraryQuery(compatible_only=True))
    qtbot.waitUntil(lambda: model.rowCount() == 1)
    model.set_query(LibraryQuery())
    qtbot.waitUntil(lambda: model.rowCount() == 1)
    assert model.records()[0].path == lora
    assert all(not r.info.kind.is_text for r in model.records())


def test_kind_filter_offers_no_text_kinds(qtbot) -> None:
    toolbar = LibraryToolbar()
    qtbot.addWidget(toolbar)
    kinds = {toolbar.kind_filter.itemData(i) for i in range(toolbar.kind_filter.count())}
    assert ModelKind.TEXT_MODEL not in kinds
    assert ModelKind.PEFT_ADAPTER not in kinds
    assert ModelKind.LORA in kinds
