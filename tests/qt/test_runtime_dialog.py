"""The first-run dialog: what was detected and why, the remembered build, real progress values,
cancel then resume, one sentence per failure."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QMessageBox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from runtime_fakes import FakeRuntime

from lorastudio.core.errors import LoraStudioError
from lorastudio.core.runtime import Detection, Gpu, InstallProgress, target
from lorastudio.core.settings import SettingsStore
from lorastudio.qt.widgets import runtime_dialog
from lorastudio.qt.widgets.runtime_dialog import RuntimeDialog, format_bytes
from lorastudio.qt.workers import runtime_worker

GPU = Gpu(vendor="nvidia", name="NVIDIA GeForce RTX 4070", driver="581.57", memory_mb=12282,
          compute_capability="8.9")
REASON = "Found NVIDIA GeForce RTX 4070 with driver 581.57: using the CUDA 13.0 build."


@pytest.fixture
def detection(monkeypatch: pytest.MonkeyPatch) -> Detection:
    found = Detection(target=target("cu130"), reason=REASON, gpus=(GPU,))
    monkeypatch.setattr(runtime_worker, "detect", lambda: found)
    return found


@pytest.fixture
def store(tmp_path: Path) -> SettingsStore:
    return SettingsStore(tmp_path / "settings.json")


@pytest.fixture
def runtime(tmp_path: Path) -> FakeRuntime:
    return FakeRuntime(tmp_path / "runtime")


def _open(qtbot, runtime: FakeRuntime, store: SettingsStore) -> RuntimeDialog:  # type: ignore[no-untyped-def]
    dialog = RuntimeDialog(runtime, store)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.detection is not None or "Could not" in dialog.detected.text())
    return dialog


def _install(qtbot, dialog: RuntimeDialog) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.installing, timeout=10_000)
    assert dialog._install_worker is not None
    dialog._install_worker.wait()


def test_shows_what_was_detected_and_why(qtbot, runtime, store, detection) -> None:  # type: ignore[no-untyped-def]
    dialog = _open(qtbot, runtime, store)
    assert dialog.detected.text() == "GPU: NVIDIA GeForce RTX 4070 · driver 581.57 · 12 GB"
    assert dialog.reason.text() == REASON
    assert dialog.target_combo.currentText() == f"Automatic: {detection.target.label}"
    assert dialog.chosen_target() == detection.target
    assert dialog.install_button.isEnabled()
    assert "needed" in dialog.disk.text()
    assert "free" in dialog.disk.text()


def test_install_uses_the_detected_build_and_reports_success(qtbot, runtime, store, detection) -> None:  # type: ignore[no-untyped-def]
    dialog = _open(qtbot, runtime, store)
    with qtbot.waitSignal(dialog.installed, timeout=10_000) as blocker:
        qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    dialog._install_worker.wait()  # type: ignore[union-attr]
    assert runtime.installs == [("cu130", None, None)]
    assert blocker.args[0].kind == "installed"
    assert "ready" in dialog.phase.text()
    assert "2.13.0" in dialog.phase.text()
    assert dialog.close_button.text() == "Done"


def test_progress_shows_phase_package_bytes_and_eta(qtbot, runtime, store, detection) -> None:  # type: ignore[no-untyped-def]
    dialog = _open(qtbot, runtime, store)
    dialog.bar.show()
    mib = 1024**2
    dialog.show_progress(InstallProgress(phase="download", text="Downloading torch", package="torch",
                                         done_bytes=50 * mib, total_bytes=200 * mib, eta_s=125.0))
    assert dialog.phase.text() == "Downloading torch"
    assert dialog.bar.maximum() == 1000
    assert dialog.bar.value() == 250
    assert dialog.bar.format() == "50.0 MB of 200.0 MB"
    assert dialog.detail.text() == "about 2 min left"  # the package is named once, in the line above
    # A phase without sizes (uv resolving, installing) shows a busy bar, not an invented number.
    dialog.show_progress(InstallProgress(phase="install", text="Installing 31 packages"))
    assert dialog.bar.maximum() == 0
    assert dialog.detail.text() == ""


def test_progress_values_from_the_install_reach_the_dialog(qtbot, runtime, store, detection) -> None:  # type: ignore[no-untyped-def]
    runtime.steps = [InstallProgress(phase="download", text="Downloading packages", package="numpy",
                                     done_bytes=5 * 1024**2, total_bytes=20 * 1024**2, eta_s=3.0)]
    runtime.wait_for_cancel = True
    dialog = _open(qtbot, runtime, store)
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.detail.text() == "numpy · about 3 s left")
    assert dialog.bar.value() == 250
    assert not dialog.install_button.isEnabled()
    assert dialog.cancel_button.isEnabled()
    assert not dialog.target_combo.isEnabled()
    dialog.shutdown()


def test_cancel_then_install_again_resumes(qtbot, runtime, store, detection) -> None:  # type: ignore[no-untyped-def]
    runtime.wait_for_cancel = True
    dialog = _open(qtbot, runtime, store)
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    assert runtime.reported.wait(5)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.installing, timeout=10_000)
    dialog._install_worker.wait()  # type: ignore[union-attr]
    assert "cancelled" in dialog.phase.text()
    assert "resumes" in dialog.phase.text()
    assert dialog.install_button.text() == "Resume install"
    assert dialog.install_button.isEnabled()
    assert not dialog.error.isVisible()
    assert runtime.kind == "missing"
    _install(qtbot, dialog)
    assert [key for key, _, _ in runtime.installs] == ["cu130", "cu130"]
    assert runtime.kind == "installed"


def test_a_failure_is_one_sentence(qtbot, runtime, store, detection) -> None:  # type: ignore[no-untyped-def]
    sentence = "The package index https://mirror.example/simple is unreachable; check the address or the network."
    runtime.fail_with = LoraStudioError(sentence)
    dialog = _open(qtbot, runtime, store)
    _install(qtbot, dialog)
    assert dialog.error.isVisible()
    assert dialog.error.text() == sentence
    assert dialog.install_button.text() == "Try again"


def test_a_background_dialog_closed_mid_install_keeps_installing(qtbot, runtime, store, detection) -> None:  # type: ignore[no-untyped-def]
    import threading

    runtime.gate = threading.Event()
    dialog = RuntimeDialog(runtime, store, background=True)  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.detection is not None)
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    assert runtime.reported.wait(5)
    dialog.close()
    assert not dialog.isVisible()
    assert dialog.installing  # hidden, not cancelled
    with qtbot.waitSignal(dialog.installed, timeout=10_000):
        runtime.gate.set()
    dialog._install_worker.wait()  # type: ignore[union-attr]
    assert runtime.kind == "installed"


def test_a_failure_is_also_signalled(qtbot, runtime, store, detection) -> None:  # type: ignore[no-untyped-def]
    runtime.fail_with = LoraStudioError("The disk ran full while installing the engine runtime.")
    dialog = _open(qtbot, runtime, store)
    with qtbot.waitSignal(dialog.failed, timeout=10_000) as blocker:
        qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    dialog._install_worker.wait()  # type: ignore[union-attr]
    assert blocker.args == ["The disk ran full while installing the engine runtime."]


def test_a_missing_wheel_folder_is_refused_before_starting(qtbot, runtime, store, detection, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dialog = _open(qtbot, runtime, store)
    dialog.wheels.setText(str(tmp_path / "nowhere"))
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    assert "does not exist" in dialog.error.text()
    assert runtime.installs == []


def test_the_override_index_and_wheel_folder_are_remembered(qtbot, runtime, store, detection, tmp_path) -> None:  # type: ignore[no-untyped-def]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    dialog = _open(qtbot, runtime, store)
    dialog.target_combo.setCurrentIndex(dialog.target_combo.findData("cpu"))
    dialog.index_url.setText("https://mirror.example/simple")
    dialog.wheels.setText(str(wheels))
    _install(qtbot, dialog)
    assert runtime.installs == [("cpu", "https://mirror.example/simple", wheels)]
    dialog.close()

    again = _open(qtbot, runtime, store)
    assert again.target_combo.currentData() == "cpu"
    assert again.chosen_target() == target("cpu")
    assert again.index_url.text() == "https://mirror.example/simple"
    assert again.wheels.text() == str(wheels)
    assert "Installed now" in again.current.text()
    assert again.install_button.text() == "Reinstall"


def test_detection_failure_still_lets_the_user_pick(qtbot, runtime, store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken() -> Detection:
        raise LoraStudioError("nvidia-smi did not answer within 10 seconds.")

    monkeypatch.setattr(runtime_worker, "detect", broken)
    dialog = _open(qtbot, runtime, store)
    assert dialog.reason.text() == "nvidia-smi did not answer within 10 seconds."
    assert not dialog.install_button.isEnabled()  # automatic, but nothing detected
    dialog.target_combo.setCurrentIndex(dialog.target_combo.findData("cpu"))
    assert dialog.install_button.isEnabled()


def test_format_helpers() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(181.4 * 1024**2) == "181.4 MB"
    assert format_bytes(2.5 * 1024**3) == "2.5 GB"
    assert runtime_dialog.format_eta(30) == "about 30 s left"
    assert runtime_dialog.format_eta(7200) == "about 2.0 h left"


# -- the window's hook -------------------------------------------------------------------------
@pytest.fixture
def window_factory(qtbot, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from lorastudio.app import create_main_window
    from lorastudio.core.paths import data_dir

    made = []

    def make():  # type: ignore[no-untyped-def]
        win = create_main_window(data_dir(tmp_path / "data"))
        qtbot.addWidget(win)
        win.show()
        made.append(win)
        return win

    yield make
    for win in made:
        win.shutdown()


def test_without_a_runtime_the_window_browses_and_a_job_opens_the_dialog(
        qtbot, window_factory, monkeypatch, detection, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from functools import partial

    from lorastudio.core.runtime import EngineRuntime
    from lorastudio.qt import main_window

    # An installed app: no torch in the window's environment, nothing set up in the data dir.
    monkeypatch.setattr(main_window, "EngineRuntime", partial(EngineRuntime, this_environment=False))
    win = window_factory()
    assert win.device_label.text() == "No engine runtime: browsing and downloads work"
    assert win.runtime_button.isVisible()
    assert not win.backend.running  # no warm-up without a runtime
    built: list[Path] = []
    monkeypatch.setattr(win.engine, "build_demo", built.append)

    win._on_demo_requested()  # a job for this computer
    assert built == []
    dialog = win._runtime_dialog
    assert dialog is not None
    assert dialog.isVisible()
    assert not dialog.isModal()  # the window stays usable while it installs
    qtbot.waitUntil(lambda: dialog.detection is not None)
    dialog.close()
    assert "generating on this computer needs it" in win.notice.text()

    # A text or training job (they always run here) failed for want of the runtime: the dialog again.
    from lorastudio.core import messages

    win.engine.message.emit(messages.error("No engine runtime is set up on this computer yet.",
                                           messages.MessageKind.ENGINE_START))
    assert dialog.isVisible()
    dialog.close()

    # The runtime gets installed: the line and the button go, the next job runs.
    fake = FakeRuntime(tmp_path / "fake")
    win.runtime = fake  # type: ignore[assignment]
    warmed: list[bool] = []
    monkeypatch.setattr(win.engine, "warm_up", lambda: warmed.append(True))
    fake.kind, fake.target_key = "installed", "cpu"
    dialog.installed.emit(fake.state())
    assert not win.runtime_button.isVisible()
    assert win.device_label.text() == "Engine: starts on first use"
    assert warmed == [True]
    assert "ready" in win.notice.text()
    win._on_demo_requested()
    assert built == [win.data.root]


def test_in_an_environment_with_torch_the_dialog_never_opens(qtbot, window_factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lorastudio.qt.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "_on_warm_up_timer", lambda self: None)
    win = window_factory()  # this test venv has torch: it is the engine runtime
    assert win.runtime.state().kind == "this-environment"
    assert not win.runtime_button.isVisible()
    built: list[Path] = []
    monkeypatch.setattr(win.engine, "build_demo", built.append)
    win._on_demo_requested()
    assert built == [win.data.root]
    win._on_runtime_requested()  # File ▸ Engine runtime…
    assert win._runtime_dialog is None
    assert "runs the engine" in win.notice.text()


# -- a real install through the dialog (uv, the CPU torch wheel, ~1 min) -----------------------
class _Phases(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[InstallProgress] = []

    @Slot(object)
    def on_progress(self, p: InstallProgress) -> None:
        self.seen.append(p)


@pytest.mark.slow
def test_a_real_install_from_a_wheel_folder_then_verify_and_remove(qtbot, store, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from wheelhouse import build_wheelhouse

    from lorastudio.core.runtime import EngineRuntime, engine_python
    from lorastudio.qt.widgets.runtime_section import RuntimeSection

    wheels = build_wheelhouse()
    monkeypatch.setattr(runtime_worker, "detect", lambda: Detection(target("cpu"), "No GPU was found.", ()))
    runtime = EngineRuntime(tmp_path / "runtime", this_environment=False)
    dialog = _open(qtbot, runtime, store)  # type: ignore[arg-type]
    dialog.wheels.setText(str(wheels))  # a wheel folder alone: no network
    phases = _Phases()
    with qtbot.waitSignal(dialog.installed, timeout=900_000) as blocker:
        qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
        assert dialog._install_worker is not None
        dialog._install_worker.progress.connect(phases.on_progress)
    dialog._install_worker.wait()
    assert blocker.args[0].kind == "installed"
    assert engine_python(runtime) == runtime.python
    kinds = [p.phase for p in phases.seen]
    for phase in ("python", "resolve", "install", "verify", "done"):
        assert phase in kinds
    assert any(p.package == "torch" for p in phases.seen)  # per package, as uv installed them
    assert "ready" in dialog.phase.text()
    dialog.close()

    section = RuntimeSection(runtime, store)
    qtbot.addWidget(section)
    assert section.summary.text().startswith("Installed: the CPU only build, torch 2.13.0")
    qtbot.mouseClick(section.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not section._busy, timeout=600_000)
    section.shutdown()
    assert section.result.text() == "Verified: PyTorch and the engine import, and it runs on cpu."
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(section.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not section._busy, timeout=120_000)
    section.shutdown()
    assert runtime.state().kind == "missing"
    assert not runtime.root.exists()
