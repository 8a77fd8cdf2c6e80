"""The first-run dialog: set up the engine runtime (PyTorch for this computer) with uv.

It shows what ``detect()`` found and why, lets the user pick another build (remembered in
Settings), a package index and an offline wheel folder, checks the disk space, and installs with
the progress uv reports (phase, package, bytes, ETA). Cancel stops uv; Install again resumes from
uv's cache. Closing leaves the window usable: only generation needs the runtime.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.messages import Message, MessageKind
from lorastudio.core.runtime import (
    TARGETS,
    Detection,
    EngineRuntime,
    InstallProgress,
    RuntimeState,
    Target,
)
from lorastudio.core.runtime.requirements import DISK_NEEDED_MB
from lorastudio.core.settings import SettingsStore
from lorastudio.qt.theme import mark_warning
from lorastudio.qt.workers import runtime_worker
from lorastudio.qt.workers.threads import FunctionWorker, create_worker


def format_bytes(n: float) -> str:
    """Sizes in binary units, as uv reports them (and as Windows and most file managers show them)."""
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def format_eta(seconds: float) -> str:
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


def free_bytes(folder: Path) -> int:
    """Free space on the disk that will hold ``folder`` (it may not exist yet)."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def gpu_line(detection: Detection) -> str:
    """The GPUs found, one "name · driver · memory" entry each."""
    if not detection.gpus:
        return "GPU: none found"
    entries = []
    for g in detection.gpus:
        parts = [g.name, f"driver {g.driver}" if g.driver else "",
                 f"{g.memory_mb / 1024:.0f} GB" if g.memory_mb else ""]
        entries.append(" · ".join(p for p in parts if p))
    return ("GPU: " if len(entries) == 1 else "GPUs: ") + "; ".join(entries)


class RuntimeDialog(QDialog):
    """Signals: installed(object RuntimeState) once an install verified; failed(str) with the
    sentence when one failed (not when it was cancelled).

    ``background``: closing the dialog while it installs only hides it, and the install goes on
    (the owner keeps the dialog and calls ``shutdown`` at exit); otherwise closing cancels it.
    """

    installed = Signal(object)
    failed = Signal(str)

    def __init__(self, runtime: EngineRuntime, store: SettingsStore, parent: QWidget | None = None,
                 *, why: str = "", background: bool = False) -> None:
        super().__init__(parent)
        self._background = background
        self.setWindowTitle("Set up the engine")
        self.setMinimumWidth(560)
        self.runtime = runtime
        self.store = store
        self.detection: Detection | None = None
        self._detect_worker: FunctionWorker | None = None
        self._install_worker: FunctionWorker | None = None  # kept after it ends (PySide6 lifetime)
        self._installing = False
        self._started_at = 0.0

        intro = QLabel(
            (why or "Generating images needs the engine runtime.")
            + " It is a Python environment with PyTorch built for this computer, set up once with uv. "
            "The library, the Hugging Face page and downloads work without it.")
        intro.setWordWrap(True)
        self.current = QLabel("")
        self.current.setObjectName("muted")
        self.current.setWordWrap(True)

        machine = QGroupBox("This computer")
        self.detected = QLabel("Looking for a GPU…")
        self.detected.setWordWrap(True)
        self.reason = QLabel("")
        self.reason.setObjectName("muted")
        self.reason.setWordWrap(True)
        ml = QVBoxLayout(machine)
        ml.addWidget(self.detected)
        ml.addWidget(self.reason)

        settings = store.value
        self.target_combo = QComboBox()
        self.target_combo.setAccessibleName("PyTorch build")
        self.target_combo.addItem("Automatic (looking for a GPU…)", "")
        for t in TARGETS:
            self.target_combo.addItem(t.label, t.key)
        self.target_combo.setCurrentIndex(max(0, self.target_combo.findData(settings.runtime_target)))
        self.index_url = QLineEdit(settings.runtime_index_url)
        self.index_url.setPlaceholderText("Default: PyPI and the PyTorch index of the build (or a mirror)")
        self.wheels = QLineEdit(settings.runtime_find_links)
        self.wheels.setPlaceholderText("Optional: a folder of .whl files (offline install)")
        self.browse = QPushButton("Browse…")
        wheels_row = QHBoxLayout()
        wheels_row.addWidget(self.wheels, 1)
        wheels_row.addWidget(self.browse)
        self.disk = QLabel("")
        self.disk.setWordWrap(True)
        form = QFormLayout()
        form.addRow("PyTorch build", self.target_combo)
        form.addRow("Package index", self.index_url)
        form.addRow("Wheel folder", wheels_row)
        form.addRow("Disk space", self.disk)

        self.phase = QLabel("")
        self.phase.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.detail = QLabel("")
        self.detail.setObjectName("muted")
        self.detail.setWordWrap(True)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        mark_warning(self.error)
        for w in (self.phase, self.bar, self.detail, self.error):
            w.hide()

        self.install_button = QPushButton("Install")
        self.install_button.setObjectName("primary")
        self.cancel_button = QPushButton("Cancel install")
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.install_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)

        lay = self._layout = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.current)
        lay.addWidget(machine)
        lay.addLayout(form)
        for w in (self.phase, self.bar, self.detail, self.error):
            lay.addWidget(w)
        lay.addStretch(1)
        lay.addLayout(buttons)

        self.target_combo.currentIndexChanged.connect(self._on_target_changed)
        self.browse.clicked.connect(self._on_browse)
        self.install_button.clicked.connect(self._on_install)
        self.cancel_button.clicked.connect(self._on_cancel)
        self.close_button.clicked.connect(self.reject)

        state = runtime.state()
        self._show_current(state)
        if state.kind == "installed":
            self.install_button.setText("Reinstall")
        elif state.kind == "broken":
            self.install_button.setText("Repair")
        self._update_disk()
        self._update_buttons()
        self._start_detection()

    # -- detection -----------------------------------------------------------------------------
    def _start_detection(self) -> None:
        worker = create_worker(runtime_worker.detect_machine)
        worker.returned.connect(self._on_detected)
        worker.errored.connect(self._on_detect_failed)
        self._detect_worker = worker
        worker.start()

    @Slot(object)
    def _on_detected(self, detection: Detection) -> None:
        self.detection = detection
        self.detected.setText(gpu_line(detection))
        self.reason.setText(detection.reason)
        self.target_combo.setItemText(0, f"Automatic: {detection.target.label}")
        self._update_disk()
        self._update_buttons()

    @Slot(object)
    def _on_detect_failed(self, message: Message) -> None:
        # Detection only suggests: without it the user picks a build by hand.
        self.detected.setText("Could not look for a GPU; pick a build below.")
        self.reason.setText(message.text)
        self.target_combo.setItemText(0, "Automatic (unknown: pick a build)")
        self._update_buttons()

    # -- choices -------------------------------------------------------------------------------
    def chosen_target(self) -> Target | None:
        """The build to install: the one picked, else the detected one (None while unknown)."""
        key = str(self.target_combo.currentData() or "")
        if key:
            return next(t for t in TARGETS if t.key == key)
        return self.detection.target if self.detection is not None else None

    @Slot(int)
    def _on_target_changed(self, _index: int) -> None:
        self.store.update(runtime_target=str(self.target_combo.currentData() or ""))
        self._update_disk()
        self._update_buttons()

    @Slot()
    def _on_browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of wheel files", self.wheels.text())
        if folder:
            self.wheels.setText(folder)

    def _update_disk(self) -> None:
        target = self.chosen_target()
        free = free_bytes(self.runtime.root)
        if target is None:
            self.disk.setText(f"{format_bytes(free)} free.")
            return
        # The install's own check also subtracts uv's cache (a resume downloads less); walking the
        # cache here would stall the window, so this shows the full figure.
        need = DISK_NEEDED_MB.get(target.key, max(DISK_NEEDED_MB.values())) * 1024**2
        text = f"About {format_bytes(need)} needed for the {target.label} build; {format_bytes(free)} free."
        self.disk.setText(text if free >= need else text + " Free some space before installing.")

    def _show_current(self, state: RuntimeState) -> None:
        if state.kind == "installed":
            label = next((t.label for t in TARGETS if t.key == state.target_key), state.target_key or "")
            self.current.setText(f"Installed now: the {label} build (torch {state.torch_version}). "
                                 "Install again to repair it or switch builds.")
        elif state.kind == "broken":
            self.current.setText(f"The engine runtime needs a repair: {state.detail}")
        elif self.runtime.root.exists():  # e.g. an install that was cancelled: it resumes
            self.current.setText(state.detail)
        else:
            self.current.setText("")
        self.current.setVisible(bool(self.current.text()))

    def _update_buttons(self) -> None:
        idle = not self._installing
        self.install_button.setEnabled(idle and self.chosen_target() is not None)
        self.cancel_button.setEnabled(self._installing)
        for w in (self.target_combo, self.index_url, self.wheels, self.browse):
            w.setEnabled(idle)

    # -- install -------------------------------------------------------------------------------
    @Slot()
    def _on_install(self) -> None:
        target = self.chosen_target()
        if target is None or self._installing:
            return
        index_url = self.index_url.text().strip()
        wheels = self.wheels.text().strip()
        find_links = Path(wheels).expanduser() if wheels else None
        if find_links is not None and not find_links.is_dir():
            self._show_error(f"The wheel folder {find_links} does not exist.")
            return
        self.store.update(runtime_index_url=index_url, runtime_find_links=wheels)
        self.error.hide()
        self.phase.setText("Starting…")
        self.detail.setText("")
        self.bar.setRange(0, 0)  # busy until uv reports sizes
        for w in (self.phase, self.bar, self.detail):
            w.show()
        worker = create_worker(runtime_worker.install_runtime, self.runtime, target, index_url or None, find_links)
        worker.progress.connect(self.show_progress)
        worker.returned.connect(self._on_installed)
        worker.errored.connect(self._on_install_failed)
        worker.finished.connect(self._on_install_finished)
        self._install_worker = worker
        self._installing = True
        self._started_at = time.monotonic()
        self._update_buttons()
        self._grow()
        worker.start()

    @Slot(object)
    def show_progress(self, p: InstallProgress) -> None:
        """Show one InstallProgress: what uv does now, the package, bytes of the total, the ETA."""
        self.phase.setText(p.text)
        if p.total_bytes:
            self.bar.setRange(0, 1000)
            self.bar.setValue(min(1000, int(1000 * p.done_bytes / p.total_bytes)))
            self.bar.setFormat(f"{format_bytes(p.done_bytes)} of {format_bytes(p.total_bytes)}")
        else:
            self.bar.setRange(0, 0)
        parts = [p.package] if p.package and p.package not in p.text else []
        if p.done_bytes and not p.total_bytes:
            parts.append(f"{format_bytes(p.done_bytes)} downloaded")
        if p.eta_s is not None:
            parts.append(format_eta(p.eta_s))
        self.detail.setText(" · ".join(parts))

    @Slot()
    def _on_cancel(self) -> None:
        if self._install_worker is not None and self._installing:
            self._install_worker.cancel()
            self.cancel_button.setEnabled(False)
            self.phase.setText("Stopping uv…")

    @Slot(object)
    def _on_installed(self, state: RuntimeState) -> None:
        minutes = (time.monotonic() - self._started_at) / 60
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.bar.setFormat("Done")
        self.phase.setText(f"The engine runtime is ready (torch {state.torch_version}); "
                           f"set up in {minutes:.1f} min. Generation works now.")
        self.detail.setText("")
        self.install_button.setText("Reinstall")
        self.close_button.setText("Done")
        self._show_current(state)
        self._update_disk()
        self._grow()
        self.installed.emit(state)

    @Slot(object)
    def _on_install_failed(self, message: Message) -> None:
        worker = self._install_worker
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("")
        self.detail.setText("")
        if message.kind == MessageKind.CANCELLED or (worker is not None and worker.cancel_token.cancelled):
            self.phase.setText("Install cancelled. Install again resumes it: what was downloaded is kept.")
            self.install_button.setText("Resume install")
        else:
            self.phase.hide()
            self.bar.hide()
            self._show_error(message.text)
            self.install_button.setText("Try again")
            self.failed.emit(message.text)
        self._show_current(self.runtime.state())
        self._grow()

    @Slot()
    def _on_install_finished(self) -> None:
        self._installing = False
        self._update_buttons()

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()
        self._grow()

    def _grow(self) -> None:
        # Wrapped labels need more height as lines appear (an error, a progress line); a window's
        # layout does not grow it by itself for height-for-width content.
        layout = self._layout
        need = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() else 0
        if need > self.height():
            self.resize(self.width(), need)

    # -- lifetime ------------------------------------------------------------------------------
    @property
    def installing(self) -> bool:
        return self._installing

    def shutdown(self) -> None:
        """Stop the install (uv is killed; the next Install resumes) and wait for the threads."""
        for worker in (self._install_worker, self._detect_worker):
            if worker is not None:
                worker.cancel()
                worker.wait()

    def done(self, result: int) -> None:
        if not (self._background and self._installing):
            self.shutdown()
        super().done(result)
