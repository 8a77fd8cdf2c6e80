"""Installing from the library panel: drop or pick, copy / move / link, pickles, duplicates, summary."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "metadata"))

from model_files import kohya_sd15, kohya_sdxl, ss_metadata, write
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.importer import ImportMode
from lorastudio.core.library.scanner import scan
from lorastudio.core.paths import DataDir
from lorastudio.qt.models.library_model import MIME_PATH
from lorastudio.qt.widgets import library_installer
from lorastudio.qt.widgets.library_installer import import_summary
from lorastudio.qt.widgets.library_panel import LibraryPanel


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    data = DataDir(tmp_path / "data").ensure()
    write(data.loras / "styles" / "watercolor.safetensors", kohya_sd15(), ss_metadata())
    (data.loras / "broken.safetensors").write_bytes(b"\0" * 3)
    with Catalog(data.catalog_db) as catalog:
        scan(catalog, [data.models])
    return data


@pytest.fixture
def panel(qtbot, data: DataDir):
    widget = LibraryPanel(data, auto_scan=False)
    qtbot.addWidget(widget)
    messages: list[tuple[str, str]] = []
    widget.message.connect(lambda level, text: messages.append((level, text)))
    widget.messages = messages  # type: ignore[attr-defined]
    yield widget
    widget.shutdown()


def _drop(panel: LibraryPanel, paths: list[Path]) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(
        QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(panel, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(
        QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(panel, drop)
    return True


def _answer(qtbot, panel: LibraryPanel, mode: ImportMode, convert: bool | None = None, remember: bool = False) -> None:
    qtbot.waitUntil(lambda: panel.installer.import_dialog is not None, timeout=3000)
    dialog = panel.installer.import_dialog
    assert dialog is not None
    dialog.mode_buttons[mode].setChecked(True)
    if convert is not None:
        assert not dialog.convert.isHidden()
        dialog.convert.setChecked(convert)
    dialog.remember.setChecked(remember)
    dialog.accept()


def _settle(qtbot, panel: LibraryPanel, n_messages: int = 1) -> tuple[str, str]:
    """Wait for the batch summary and the rescan that follows it; returns the last message."""
    qtbot.waitUntil(lambda: len(panel.messages) >= n_messages, timeout=20000)  # type: ignore[attr-defined]
    qtbot.waitUntil(lambda: not panel.installer.is_busy() and not panel.is_scanning(), timeout=20000)
    return panel.messages[-1]  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", [ImportMode.COPY, ImportMode.MOVE, ImportMode.LINK])
def test_drop_installs_with_the_chosen_mode_and_selects_it(
    qtbot, panel: LibraryPanel, data: DataDir, tmp_path: Path, mode: ImportMode
) -> None:
    src = write(tmp_path / "downloads" / "neon.safetensors", kohya_sdxl(), {"modelspec.trigger_phrase": "neon glow"})
    (tmp_path / "downloads" / "neon.preview.png").write_bytes(b"not really a png")
    assert _drop(panel, [src])
    _answer(qtbot, panel, mode)
    level, text = _settle(qtbot, panel)
    dest = data.loras / "neon.safetensors"
    assert level == "info"
    assert "neon.safetensors" in text
    assert dest.is_file()
    assert (data.loras / "neon.preview.png").is_file()  # the preview travels with it
    if mode is ImportMode.COPY:
        assert src.exists()
        assert not os.path.samefile(src, dest)
        assert "copied" in text
    elif mode is ImportMode.MOVE:
        assert not src.exists()
        assert "moved" in text
    else:
        assert os.path.samefile(src, dest)
        assert "linked" in text
    assert panel.selected_path() == str(dest)  # the new item is shown and selected
    assert panel.details.title.text() == "neon"
    assert panel.installer.mode is mode  # remembered for the next dialog of the session


def test_remembered_choice_skips_the_dialog_and_pick_uses_it(
    qtbot, panel: LibraryPanel, data: DataDir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = write(tmp_path / "a" / "one.safetensors", kohya_sdxl(rank=2))
    second = write(tmp_path / "b" / "two.safetensors", kohya_sdxl(rank=3))
    assert _drop(panel, [first])
    _answer(qtbot, panel, ImportMode.LINK, remember=True)
    _settle(qtbot, panel)
    monkeypatch.setattr(
        library_installer.QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([str(second)], ""))
    )
    qtbot.mouseClick(panel.install_button, Qt.MouseButton.LeftButton)  # Install… → file dialog
    assert panel.installer.import_dialog is None  # not asked again this session
    level, text = _settle(qtbot, panel, 2)
    assert (level, "two.safetensors") == ("info", text.split()[0])
    assert os.path.samefile(second, data.loras / "two.safetensors")
    assert panel.selected_path() == str(data.loras / "two.safetensors")


def test_folder_drop_expands_and_resolves_name_collisions(
    qtbot, panel: LibraryPanel, data: DataDir, tmp_path: Path
) -> None:
    folder = tmp_path / "batch"
    write(folder / "broken.safetensors", kohya_sdxl(rank=8))  # the library has a broken.safetensors
    write(folder / "sub" / "fresh.safetensors", kohya_sd15(rank=2, text_encoder=False))
    (folder / "readme.txt").write_text("not a model")
    before = (data.loras / "broken.safetensors").read_bytes()
    panel.install_paths([folder], ImportMode.COPY)
    level, text = _settle(qtbot, panel)
    assert level == "info"
    assert "Installed 2 models (2 copied)" in text
    assert (data.loras / "broken.safetensors").read_bytes() == before  # never overwritten
    assert (data.loras / "broken (2).safetensors").is_file()
    assert (data.loras / "fresh.safetensors").is_file()
    assert not (data.loras / "readme.txt").exists()


def test_same_bytes_are_reported_not_duplicated(qtbot, panel: LibraryPanel, data: DataDir, tmp_path: Path) -> None:
    existing = data.loras / "styles" / "watercolor.safetensors"
    copy = tmp_path / "renamed-copy.safetensors"
    copy.write_bytes(existing.read_bytes())
    assert _drop(panel, [copy])
    _answer(qtbot, panel, ImportMode.COPY)
    level, text = _settle(qtbot, panel)
    assert level == "info"
    assert "already in the library as watercolor.safetensors" in text
    assert "not added again" in text
    assert not (data.loras / "renamed-copy.safetensors").exists()
    assert panel.selected_path() == str(existing)  # shows the copy the library already has
    panel.install_paths([existing], ImportMode.COPY)  # a file of the library itself
    _, text = _settle(qtbot, panel, 2)
    assert "already in the library" in text
    assert sorted(p.name for p in (data.loras / "styles").iterdir()) == ["watercolor.safetensors"]


def test_pickle_that_needs_code_is_refused_and_never_run(
    qtbot, panel: LibraryPanel, data: DataDir, tmp_path: Path
) -> None:
    from test_detect import plant_pickle

    marker = tmp_path / "PWNED"
    evil = plant_pickle(tmp_path / "in" / "evil.ckpt", marker)
    assert _drop(panel, [evil])
    _answer(qtbot, panel, ImportMode.COPY, convert=True)  # the dialog offers conversion
    level, text = _settle(qtbot, panel)
    assert level == "error"
    assert "evil.ckpt was refused: it needs more than plain tensors" in text
    assert not marker.exists()
    assert list(data.checkpoints.iterdir()) == []
    assert not any(p.name.startswith("evil") for p in data.loras.iterdir())


def test_plain_tensor_pickle_is_converted_or_refused_without_conversion(
    qtbot, panel: LibraryPanel, data: DataDir, tmp_path: Path
) -> None:
    import torch

    sd = {k: torch.from_numpy(v.astype("float32")) for k, v in kohya_sd15(text_encoder=False).items()}
    src = tmp_path / "Lora" / "old.pt"
    src.parent.mkdir()
    torch.save({"state_dict": sd}, src)
    panel.install_paths([src], ImportMode.COPY, convert_pickles=False)
    level, text = _settle(qtbot, panel)
    assert level == "error"
    assert "only by converting it to safetensors" in text
    panel.install_paths([src], ImportMode.COPY, convert_pickles=True)
    level, text = _settle(qtbot, panel, 2)
    assert level == "info"
    assert "converted to safetensors as old.safetensors" in text
    assert panel.selected_path() == str(data.loras / "old.safetensors")
    record = panel.catalog_record(str(data.loras / "old.safetensors"))
    assert record is not None
    assert record.info.base.value == "sd1"
    assert src.exists()


def test_own_cards_and_non_files_are_not_drop_targets(panel: LibraryPanel) -> None:
    mime = QMimeData()
    mime.setData(MIME_PATH, b"/somewhere/a.safetensors")
    mime.setUrls([QUrl.fromLocalFile("/somewhere/a.safetensors")])
    enter = QDragEnterEvent(
        QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(panel, enter)
    assert not enter.isAccepted()
    assert not _drop(panel, [])


def test_summary_counts_and_levels(tmp_path: Path) -> None:
    from lorastudio.core.library.importer import ImportResult

    results = [
        ImportResult(tmp_path / "a", tmp_path / "x" / "a", "copied", "a copied to x/a."),
        ImportResult(tmp_path / "b", tmp_path / "x" / "b", "converted", "b converted to safetensors as b."),
        ImportResult(tmp_path / "c", tmp_path / "x" / "z", "duplicate", "c is already in the library as z."),
    ]
    level, text = import_summary(results, [("d.bin", "Too many files named d.bin already.")], cancelled=True)
    assert level == "error"
    assert "Installed 2 models (1 copied, 1 converted to safetensors)." in text
    assert "c is already in the library as z. It was not added again." in text
    assert "Too many files named d.bin already." in text
    assert "cancelled" in text
    assert import_summary([], []) == ("info", "Nothing was installed.")
