"""The library browser: model contract, search, filters, details editing, empty state, worker scan."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "metadata"))

from model_files import checkpoint, kohya_sd15, kohya_sdxl, ss_metadata, write
from PySide6.QtCore import QModelIndex, Qt

from lorastudio.core.library.catalog import Catalog, UserData
from lorastudio.core.library.scanner import scan
from lorastudio.core.paths import DataDir
from lorastudio.core.types import ModelKind
from lorastudio.qt.models.library_model import MIME_PATH, LibraryModel, LibraryQuery, SortKey
from lorastudio.qt.widgets.library_panel import LibraryPanel


def _library(data: DataDir) -> DataDir:
    write(data.loras / "styles" / "watercolor.safetensors", kohya_sd15(), ss_metadata())
    write(data.loras / "xl" / "neon.safetensors", kohya_sdxl(), {"modelspec.trigger_phrase": "neon glow"})
    write(data.checkpoints / "base15.safetensors", checkpoint("sd1"))
    (data.loras / "broken.safetensors").write_bytes(b"\0" * 3)
    return data


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return _library(DataDir(tmp_path / "data").ensure())


@pytest.fixture
def scanned(data: DataDir) -> DataDir:
    with Catalog(data.catalog_db) as catalog:
        scan(catalog, [data.models])
    return data


@pytest.fixture
def panel(qtbot, scanned: DataDir):
    widget = LibraryPanel(scanned, auto_scan=False)
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()


def _names(model: LibraryModel) -> list[str]:
    return [model.index(r, 0).data() for r in range(model.rowCount())]


def test_model_passes_qtmodeltester(qtmodeltester, scanned: DataDir) -> None:
    model = LibraryModel()
    with Catalog(scanned.catalog_db) as catalog:
        model.set_records(catalog.records())
    qtmodeltester.check(model)
    model.set_query(LibraryQuery(text="neon"))
    qtmodeltester.check(model)


def test_search_as_you_type(qtbot, panel: LibraryPanel) -> None:
    assert sorted(_names(panel.model)) == ["base15", "broken", "neon", "watercolor"]
    qtbot.keyClicks(panel.search, "neon gl")  # a trigger phrase, not the name
    qtbot.waitUntil(lambda: _names(panel.model) == ["neon"], timeout=3000)
    panel.search.clear()
    qtbot.keyClicks(panel.search, "styles")  # folder
    qtbot.waitUntil(lambda: _names(panel.model) == ["watercolor"], timeout=3000)
    panel.search.setText("nothing-like-this")
    qtbot.waitUntil(lambda: panel.stack.currentIndex() == 2, timeout=3000)  # "nothing matches"


def test_filters_sort_and_compat_never_silent(panel: LibraryPanel) -> None:
    panel.set_query(LibraryQuery(kind=ModelKind.CHECKPOINT))
    assert _names(panel.model) == ["base15"]
    panel.set_query(LibraryQuery(kind=ModelKind.LORA, sort=SortKey.SIZE))
    assert _names(panel.model) == ["neon", "watercolor"]  # the SDXL file is the larger
    panel.set_current_base("sd1")
    panel.set_query(LibraryQuery(kind=ModelKind.LORA, compatible_only=True))
    assert _names(panel.model) == ["watercolor"]
    assert "1 hidden because they do not fit" in panel.status.text()
    panel.set_query(LibraryQuery(kind=ModelKind.LORA))
    badges = {
        panel.model.index(r, 0).data(): panel.model.index(r, 0).data(Qt.ItemDataRole.UserRole + 3)
        for r in range(panel.model.rowCount())
    }
    assert badges == {"neon": "mismatch", "watercolor": "ok"}


def test_details_edit_persists_by_hash(qtbot, panel: LibraryPanel, scanned: DataDir) -> None:
    path = str(scanned.loras / "styles" / "watercolor.safetensors")
    with qtbot.waitSignal(panel.selection_changed, check_params_cb=lambda p: p == path):
        panel.select_path(path)
    assert panel.details.title.text() == "watercolor"
    panel.details.favorite.setChecked(True)
    panel.details.tags.setText("paint, soft")
    panel.details.words.setText("wc style")
    panel.details.rating.setValue(5)
    qtbot.mouseClick(panel.details.save, Qt.MouseButton.LeftButton)
    with Catalog(scanned.catalog_db) as catalog:
        user = catalog.get(Path(path)).user
    assert user == UserData(favorite=True, tags=("paint", "soft"), trigger_words=("wc style",), rating=5)
    panel.set_query(LibraryQuery(favorites_only=True))
    assert _names(panel.model) == ["watercolor"]
    panel.set_query(LibraryQuery(text="soft"))  # tags are searchable
    assert _names(panel.model) == ["watercolor"]


def test_activation_signals_and_drag_mime(qtbot, panel: LibraryPanel, scanned: DataDir) -> None:
    row = panel.model.row_of(str(scanned.checkpoints / "base15.safetensors"))
    with qtbot.waitSignal(panel.checkpoint_activated) as blocker:
        panel._on_activated(panel.model.index(row, 0))
    assert blocker.args == [str(scanned.checkpoints / "base15.safetensors")]
    row = panel.model.row_of(str(scanned.loras / "xl" / "neon.safetensors"))
    with qtbot.waitSignal(panel.lora_activated):
        panel._on_activated(panel.model.index(row, 0))
    mime = panel.model.mimeData([panel.model.index(row, 0)])
    assert bytes(mime.data(MIME_PATH)).decode() == str(scanned.loras / "xl" / "neon.safetensors")
    info = panel.record(str(scanned.loras / "xl" / "neon.safetensors"))
    assert info is not None
    assert info.trigger_words == ("neon glow",)
    assert info.base.value == "sdxl"


def test_empty_state(qtbot, tmp_path: Path) -> None:
    widget = LibraryPanel(DataDir(tmp_path / "empty").ensure(), auto_scan=False)
    qtbot.addWidget(widget)
    try:
        assert widget.stack.currentIndex() == 0
        assert widget.empty_add.text() == "Add folder…"
        with qtbot.waitSignal(widget.demo_requested):
            qtbot.mouseClick(widget.empty_demo, Qt.MouseButton.LeftButton)
    finally:
        widget.shutdown()


def test_worker_scan_and_hash(qtbot, data: DataDir, tmp_path: Path) -> None:
    widget = LibraryPanel(data, auto_scan=False)
    qtbot.addWidget(widget)
    try:
        assert widget.stack.currentIndex() == 0  # nothing scanned yet
        external = tmp_path / "external"
        write(external / "ext.safetensors", kohya_sd15(text_encoder=False))
        with qtbot.waitSignal(widget.scan_finished, timeout=20000):
            widget.add_root(external)  # saved in settings, then scanned in place
        qtbot.waitUntil(lambda: widget._scan_thread is None, timeout=5000)
        assert sorted(_names(widget.model)) == ["base15", "broken", "ext", "neon", "watercolor"]
        record = widget.catalog_record(str(external / "ext.safetensors"))
        assert record is not None
        assert record.sha256
        assert widget.stack.currentIndex() == 1
    finally:
        widget.shutdown()


def test_list_view_toggle_keeps_selection(panel: LibraryPanel, scanned: DataDir) -> None:
    path = str(scanned.loras / "xl" / "neon.safetensors")
    panel.select_path(path)
    panel.view_toggle.setChecked(True)
    assert panel.views.currentWidget() is panel.table
    assert panel.selected_path() == path
    assert panel.model.headerData(0, Qt.Orientation.Horizontal) == "Name"
    assert not panel.model.index(0, 0).parent().isValid()
    assert panel.model.rowCount(QModelIndex()) == 4


def test_a_scan_that_skips_something_says_so_in_the_status_line(qtbot, data: DataDir) -> None:
    loop = data.loras / "loop"
    loop.mkdir()
    (loop / "again").symlink_to(loop, target_is_directory=True)
    widget = LibraryPanel(data, auto_scan=False)
    qtbot.addWidget(widget)
    try:
        with qtbot.waitSignal(widget.scan_finished, timeout=20000):
            widget.rescan()
        qtbot.waitUntil(lambda: "skipped" in widget.status_bar.status.text(), timeout=5000)
        assert "symlink loop" in widget.status_bar.status.text()
        assert "models" in widget.status_bar.status.text()  # the counts stay in front
    finally:
        widget.shutdown()
