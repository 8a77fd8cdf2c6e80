"""History panel: thumbnails of past results, view large, reuse parameters, delete, PNG drops."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from lorastudio.core.engine.output import save_png
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.scanner import hash_pending, scan
from lorastudio.core.paths import DataDir
from lorastudio.core.session.model import SessionModel
from lorastudio.qt.widgets.generation_panel import GenerationPanel
from lorastudio.qt.widgets.history_panel import (
    HistoryModel,
    HistoryPanel,
    install_image_drop,
    library_from_catalog,
)

TIMEOUT = 10_000


def _png(
    folder: Path,
    prompt: str,
    seed: int,
    mtime: int,
    loras: tuple[LoraSpec, ...] = (),
    model: Path | None = None,
    size: tuple[int, int] = (64, 48),
) -> Path:
    from PIL import Image

    request = GenerationRequest(
        model=model or folder / "demo-tiny-sd15",
        prompt=prompt,
        negative_prompt="blurry",
        seed=seed,
        steps=7,
        cfg=5.5,
        width=size[0],
        height=size[1],
        sampler="DDIM",
        clip_skip=2,
        loras=loras,
    )
    path = save_png(Image.new("RGB", size, (40 * seed % 255, 90, 160)), request, seed, folder)
    os.utime(path, ns=(mtime * 10**9, mtime * 10**9))
    return path


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "data").ensure()


def _panel(qtbot, data: DataDir) -> HistoryPanel:  # type: ignore[no-untyped-def]
    panel = HistoryPanel(data, auto_scan=False)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.loader.scanned, timeout=TIMEOUT):
        panel.refresh()
    return panel


def _close(panel: HistoryPanel) -> None:
    panel.shutdown()
    assert panel.loader.thread.isFinished()


def test_model_passes_qtmodeltester(qapp, qtmodeltester, data: DataDir) -> None:  # type: ignore[no-untyped-def]
    from lorastudio.core.engine.history import History

    _png(data.outputs, "one", 1, 1_000)
    _png(data.outputs, "two", 2, 2_000)
    model = HistoryModel()
    model.set_entries(History(data.outputs).scan())
    qtmodeltester.check(model)


def test_strip_shows_newest_first_with_thumbnails_and_parameters(qtbot, data: DataDir) -> None:  # type: ignore[no-untyped-def]
    old = _png(data.outputs, "an old lighthouse", 1, 1_000)
    new = _png(data.outputs, "a new lighthouse", 2, 2_000)
    panel = _panel(qtbot, data)
    try:
        model = panel.model
        captions = [model.index(r).data(Qt.ItemDataRole.DisplayRole) for r in range(2)]
        assert [c.split(" · ", 2)[1:] for c in captions] == [["2", "a new lighthouse"], ["1", "an old lighthouse"]]
        assert panel.count.text() == "2 images"
        assert "Seed: 2" in model.index(0).data(Qt.ItemDataRole.ToolTipRole)
        # Thumbnails arrive from the history thread.
        qtbot.waitUntil(lambda: len(model._icons) == 2, timeout=TIMEOUT)
        icon = model.index(0).data(Qt.ItemDataRole.DecorationRole)
        assert isinstance(icon, QIcon)
        assert not icon.isNull()

        # A click shows the image large (signal) and its parameters on the side.
        rect = panel.view.visualRect(model.index(1))
        with qtbot.waitSignal(panel.image_chosen, timeout=TIMEOUT) as chosen:
            qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        assert chosen.args == [str(old.resolve())]
        assert "an old lighthouse" in panel.details.toPlainText()
        assert "Steps: 7" in panel.details.toPlainText()

        with qtbot.waitSignal(panel.reuse_requested, timeout=TIMEOUT) as reuse:
            panel.reuse_button.click()
        assert reuse.args == [str(old.resolve())]

        opened: list[Path] = []
        panel.open_folder = opened.append  # type: ignore[method-assign]
        panel.folder_button.click()
        assert opened == [data.outputs.resolve()]
        assert new.exists()
    finally:
        _close(panel)


def test_history_survives_a_restart_and_new_results_come_first(qtbot, data: DataDir) -> None:  # type: ignore[no-untyped-def]
    _png(data.outputs, "before restart", 1, 1_000)
    first = _panel(qtbot, data)
    _close(first)
    second = _panel(qtbot, data)  # a new session over the same data dir
    try:
        assert second.model.rowCount() == 1
        assert second.model.entry(0).title == "before restart"  # type: ignore[union-attr]
        fresh = _png(data.outputs, "just generated", 2, 5_000)
        second.add_results([fresh])
        assert second.model.entry(0).path == fresh  # type: ignore[union-attr]
        assert second.current_path() == str(fresh)
    finally:
        _close(second)


def test_delete_asks_first_and_removes_file_and_row(qtbot, data: DataDir) -> None:  # type: ignore[no-untyped-def]
    _png(data.outputs, "keep me", 1, 1_000)
    doomed = _png(data.outputs, "delete me", 2, 2_000)
    panel = _panel(qtbot, data)
    try:
        panel.select_path(str(doomed.resolve()))
        questions: list[str] = []
        panel.confirm = lambda q: questions.append(q) or False  # type: ignore[method-assign]
        panel.delete_button.click()
        assert doomed.exists()
        assert panel.model.rowCount() == 2
        panel.confirm = lambda q: questions.append(q) or True  # type: ignore[method-assign]
        panel.delete_button.click()
        assert "Delete" in questions[0]
        assert doomed.name in questions[0]
        assert not doomed.exists()
        assert [panel.model.entry(r).title for r in range(panel.model.rowCount())] == ["keep me"]  # type: ignore[union-attr]
    finally:
        _close(panel)
    again = _panel(qtbot, data)
    try:
        assert again.model.rowCount() == 1
    finally:
        _close(again)


def test_empty_history_says_so(qtbot, data: DataDir) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(qtbot, data)
    try:
        assert panel.stack.currentWidget() is panel.empty
        assert "No results yet" in panel.empty.text()
        assert not panel.reuse_button.isEnabled()
        assert not panel.delete_button.isEnabled()
    finally:
        _close(panel)


# -- reuse and drop: restore into the generation panel and the mix --------------------------------


@pytest.fixture
def library(demo_data: DataDir, tmp_path: Path) -> Path:
    """A catalog (with hashes) of the demo library, kept outside the read-only demo data dir."""
    db = tmp_path / "catalog.sqlite3"
    with Catalog(db) as catalog:
        scan(catalog, [demo_data.models])
        hash_pending(catalog)
    return db


def test_reuse_restores_settings_and_mix_resolved_by_hash(
    qtbot,
    demo_data: DataDir,
    library: Path,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    ink, neon, paper = (demo_data.loras / f"demo-{n}.safetensors" for n in ("ink-wash", "neon-glow", "paper-cut"))
    # The image names the LoRAs by names the library does not use: only the hashes can find them.
    png = _png(
        tmp_path / "out",
        "a lighthouse at dusk\nsecond line",
        4242,
        1_000,
        loras=(LoraSpec(ink, 0.6, name="inkwash-v1"), LoraSpec(neon, -0.3, te_weight=0.5, name="neon 2")),
        model=demo_data.checkpoints / "demo-tiny-sd15",
        size=(128, 64),
    )
    session, generation = _restorer(qtbot, tmp_path)
    loras, models = library_from_catalog(library)
    generation.set_models([(name, path) for path, name, _sha in models])
    assert {ink.name, neon.name, paper.name} <= {Path(p).name for p, *_ in loras}

    plan = session.restore_image(png, (loras, models))
    s = generation.settings()
    assert (s.prompt, s.negative_prompt, s.seed, s.steps, s.cfg, s.width, s.height, s.sampler, s.clip_skip) == (
        "a lighthouse at dusk\nsecond line",
        "blurry",
        4242,
        7,
        5.5,
        128,
        64,
        "DDIM",
        2,
    )
    assert s.model == demo_data.checkpoints / "demo-tiny-sd15"
    assert [(spec.path, spec.weight) for spec in session.mix.value.specs] == [(ink, 0.6), (neon, -0.3)]
    assert plan.missing == ()
    assert "2 of 2 LoRAs" in plan.summary()


def _restorer(qtbot, tmp_path: Path) -> tuple[SessionModel, GenerationPanel]:  # type: ignore[no-untyped-def]
    """What the window restores through: the session model, with the generation panel bound to it."""
    session = SessionModel(DataDir(tmp_path / "session"))
    generation = GenerationPanel(session.params)
    qtbot.addWidget(generation)
    return session, generation


def test_missing_loras_are_named(qtbot, demo_data: DataDir, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ink = demo_data.loras / "demo-ink-wash.safetensors"
    gone = tmp_path / "gone-style.safetensors"
    shutil.copy(ink, gone)
    gone.write_bytes(gone.read_bytes()[:-4] + b"\x01\x02\x03\x04")  # other tensor bytes: another hash
    png = _png(
        tmp_path / "out",
        "x",
        1,
        1_000,
        loras=(LoraSpec(ink, 0.5, name="Ink Wash"), LoraSpec(gone, 0.7, name="Gone Style")),
    )
    session, _generation = _restorer(qtbot, tmp_path)
    plan = session.restore_image(png, ([(ink, "Ink Wash", None, None)], []))
    assert [spec.path for spec in session.mix.value.specs] == [ink]
    assert plan.missing == ("gone-style",)  # the file name, as A1111 writes it
    assert "Not in your library: gone-style." in plan.summary()


def test_not_an_image_is_a_readable_error(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"no")
    session, generation = _restorer(qtbot, tmp_path)
    generation.prompt.setPlainText("untouched")
    with pytest.raises(LoraStudioError, match=r"photo\.png"):
        session.restore_image(bad, ([], []))
    assert generation.prompt.toPlainText() == "untouched"


def _drop(target: QWidget, path: Path) -> tuple[bool, bool]:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(
        QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(target, enter)
    drop = QDropEvent(
        QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(target, drop)
    return enter.isAccepted(), drop.isAccepted()


def test_png_dropped_on_the_prompt_restores_instead_of_pasting_its_url(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    png = _png(tmp_path / "out", "dropped prompt", 9, 1_000)
    window = QWidget()
    qtbot.addWidget(window)
    session = SessionModel(DataDir(tmp_path / "session"))
    generation = GenerationPanel(session.params)
    QVBoxLayout(window).addWidget(generation)
    window.show()
    drop = install_image_drop(window)
    try:
        got: list[str] = []
        drop.image_dropped.connect(got.append)
        assert _drop(generation.prompt.viewport(), png) == (True, True)
        assert got == [str(png)]
        session.restore_image(Path(got[0]), ([], []))
        assert generation.prompt.toPlainText() == "dropped prompt"
        assert generation.seed.value() == 9
        # Other files are left to the widgets (a LoRA dropped on the mixer, text on the prompt).
        other = tmp_path / "style.safetensors"
        other.write_bytes(b"x")
        got.clear()
        _drop(generation.prompt.viewport(), other)
        assert got == []
    finally:
        QApplication.instance().removeEventFilter(drop)
