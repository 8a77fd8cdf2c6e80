"""The library model changes in place: rescans insert, remove and change rows (never a reset), a big
library paints its last first screen at once and fills from the worker, big filters run in slices."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "metadata"))

from model_files import kohya_sd15, write
from PySide6.QtCore import QObject

from lorastudio.core.library.catalog import Catalog, CatalogRecord
from lorastudio.core.library.scanner import scan
from lorastudio.core.metadata.detect import FileInfo
from lorastudio.core.paths import DataDir
from lorastudio.core.types import BaseArch, ModelKind
from lorastudio.qt.models import library_model
from lorastudio.qt.models.library_model import LibraryModel, LibraryQuery, SortKey, build_index
from lorastudio.qt.widgets import library_panel
from lorastudio.qt.widgets.library_panel import LibraryPanel


def _record(root: Path, i: int, title: str = "", base: BaseArch = BaseArch.SD1) -> CatalogRecord:
    path = root / f"set{i % 7}" / f"lora_{i:05d}.safetensors"
    info = FileInfo(path=path, kind=ModelKind.LORA, base=base, title=title or path.stem, size=1000 + i)
    return CatalogRecord(info=info, root=root, added_at=float(i))


def _names(model: LibraryModel) -> list[str]:
    return [model.index(r, 0).data() for r in range(model.rowCount())]


class Spy(QObject):
    """Counts the structural signals a model emits."""

    def __init__(self, model: LibraryModel) -> None:
        super().__init__()
        self.events: list[tuple[str, int, int]] = []
        model.modelAboutToBeReset.connect(self._on_reset)
        model.layoutChanged.connect(self._on_layout)
        model.rowsInserted.connect(self._on_inserted)
        model.rowsRemoved.connect(self._on_removed)
        model.dataChanged.connect(self._on_changed)

    def kinds(self) -> set[str]:
        return {e[0] for e in self.events}

    def _on_reset(self) -> None:
        self.events.append(("reset", -1, -1))

    def _on_layout(self) -> None:
        self.events.append(("layout", -1, -1))

    def _on_inserted(self, parent: object, first: int, last: int) -> None:
        self.events.append(("inserted", first, last))

    def _on_removed(self, parent: object, first: int, last: int) -> None:
        self.events.append(("removed", first, last))

    def _on_changed(self, top_left: object, bottom_right: object, roles: object = None) -> None:
        self.events.append(("changed", top_left.row(), bottom_right.row()))  # type: ignore[attr-defined]


def test_model_passes_qtmodeltester_through_every_kind_of_change(qtmodeltester, tmp_path: Path) -> None:
    model = LibraryModel()
    records = [_record(tmp_path, i, base=BaseArch.SDXL if i % 3 == 0 else BaseArch.SD1) for i in range(60)]
    model.set_records(records)
    qtmodeltester.check(model)  # stays attached: every change below is checked as it happens
    model.set_query(LibraryQuery(text="lora_0001"))  # narrows: rows removed
    assert _names(model) == [f"lora_{i:05d}" for i in range(10, 20)]
    model.set_query(LibraryQuery(base=BaseArch.SDXL))  # rows all over the list: one layout change
    model.set_query(LibraryQuery(sort=SortKey.SIZE))  # a new order
    model.set_records([*records[5:], _record(tmp_path, 100), _record(tmp_path, 7, title="renamed")])
    model.set_current_base("sd1")
    model.set_query(LibraryQuery(compatible_only=True))
    model.set_records([])
    model.set_records(records)
    qtmodeltester.check(model)


def test_rescan_changes_become_row_inserts_removals_and_data_changes(qtbot, tmp_path: Path) -> None:
    model = LibraryModel()
    records = [_record(tmp_path, i) for i in range(40)]
    model.set_records(records)
    spy = Spy(model)
    # A rescan: two files added, one gone, one with a new title (it moves), one with new user data.
    favorite = replace(records[20], user=replace(records[20].user, favorite=True))
    rescanned = records[:10] + records[11:20] + [favorite] + records[21:30]
    rescanned += [_record(tmp_path, 30, title="zz moved to the end"), *records[31:]]
    rescanned += [_record(tmp_path, 200), _record(tmp_path, 201)]
    model.set_records(rescanned)
    assert "reset" not in spy.kinds()
    assert "layout" not in spy.kinds()
    assert ("removed", 10, 10) in spy.events  # lora_00010
    assert ("removed", 30, 30) in spy.events  # the renamed one leaves its place...
    assert ("inserted", 38, 40) in spy.events  # ...and comes back last, after lora_00200, lora_00201
    assert ("changed", 19, 19) in spy.events  # the favourite, in place
    assert _names(model)[-1] == "zz moved to the end"
    assert model.rowCount() == 41


def test_panel_rescan_keeps_selection_and_never_resets(qtbot, tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data").ensure()
    for name in ("alpha", "beta", "gamma", "delta"):
        write(data.loras / f"{name}.safetensors", kohya_sd15())
    with Catalog(data.catalog_db) as catalog:
        scan(catalog, [data.models])
    panel = LibraryPanel(data, auto_scan=False)
    qtbot.addWidget(panel)
    try:
        selected = str(data.loras / "gamma.safetensors")
        panel.select_path(selected)
        spy = Spy(panel.model)
        write(data.loras / "epsilon.safetensors", kohya_sd15())
        (data.loras / "beta.safetensors").unlink()
        with qtbot.waitSignal(panel.scan_finished, timeout=30000):
            panel.rescan()
        qtbot.waitUntil(lambda: not panel.is_scanning(), timeout=5000)
        assert "reset" not in spy.kinds()
        assert "inserted" in spy.kinds()
        assert _names(panel.model) == ["alpha", "beta", "delta", "epsilon", "gamma"]  # beta: missing, kept
        assert panel.model.record_for(str(data.loras / "beta.safetensors")).missing
        assert panel.selected_path() == selected
    finally:
        panel.shutdown()


def _big_catalog(data: DataDir, n: int) -> None:
    root = data.loras
    with Catalog(data.catalog_db) as catalog:
        catalog.upsert_many((_record(root, i).info, root, i) for i in range(n))


def test_big_library_paints_last_first_screen_then_fills_in(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(library_model, "SLICE_ROWS", 200)  # the rows arrive after a sliced filter
    monkeypatch.setattr(library_model, "SLICE_SECONDS", 0.0)
    data = DataDir(tmp_path / "data").ensure()
    n = library_panel.SYNC_LOAD_MAX + 150
    _big_catalog(data, n)
    first = LibraryPanel(data, auto_scan=False)
    qtbot.addWidget(first)
    try:
        assert first.model.rowCount() == 0  # no snapshot yet: the worker brings everything
        qtbot.waitUntil(lambda: first.model.rowCount() == n, timeout=20000)
        assert first.stack.currentIndex() == first.stack.ENTRIES  # not "nothing matches"
    finally:
        first.shutdown()
    second = LibraryPanel(data, auto_scan=False)
    qtbot.addWidget(second)
    try:
        # Before the event loop runs once: the previous session's first screen, in order.
        assert second.model.rowCount() == library_panel.FIRST_SCREEN_ROWS
        assert _names(second.model)[:3] == ["lora_00000", "lora_00001", "lora_00002"]
        assert second.stack.currentIndex() == second.stack.ENTRIES
        spy = Spy(second.model)
        qtbot.waitUntil(lambda: second.model.rowCount() == n and not second.is_scanning(), timeout=20000)
        assert "reset" not in spy.kinds()
        assert ("inserted", library_panel.FIRST_SCREEN_ROWS, n - 1) in spy.events
        assert _names(second.model) == [f"lora_{i:05d}" for i in range(n)]
        assert second.status.text() == f"{n:,} models"
    finally:
        second.shutdown()


def test_big_filter_runs_in_slices_and_ends_right(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(library_model, "SLICE_ROWS", 500)
    monkeypatch.setattr(library_model, "SLICE_SECONDS", 0.0)  # one chunk per event-loop turn
    model = LibraryModel()
    model.set_index(build_index([_record(tmp_path, i) for i in range(5000)]))
    qtbot.waitUntil(lambda: not model.is_filtering(), timeout=10000)
    assert model.rowCount() == 5000
    model.set_query(LibraryQuery(text="lora_049"))
    assert model.is_filtering()  # the GUI thread went back to its events after the first slice
    assert model.rowCount() == 5000  # the view shows the old rows until the new ones are known
    qtbot.waitUntil(lambda: not model.is_filtering(), timeout=10000)
    assert _names(model) == [f"lora_{i:05d}" for i in range(4900, 5000)]
