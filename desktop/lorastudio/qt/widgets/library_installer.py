"""Installing into the library from the UI, and offering existing installs as sources.

The library panel owns one ``LibraryInstaller``. It asks how to install (copy / move / link,
pickle conversion) in a non-blocking dialog, runs the imports in a worker thread one batch after
another, and reports one summary per batch through ``message``. It also runs the search for
existing installs off the GUI thread and offers what it finds in a dialog with checkboxes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import QDialog, QFileDialog, QWidget

from lorastudio.core.library.catalog import clean_text
from lorastudio.core.library.importer import ImportMode, ImportResult
from lorastudio.core.library.roots import DetectedRoot
from lorastudio.core.metadata.detect import MODEL_SUFFIXES, PICKLE_SUFFIXES
from lorastudio.core.paths import DataDir
from lorastudio.qt.widgets.library_import_dialog import ImportDialog
from lorastudio.qt.widgets.library_installs_dialog import InstallsDialog
from lorastudio.qt.workers.library_import_worker import LibraryImportWorker
from lorastudio.qt.workers.library_installs_worker import InstallsWorker
from lorastudio.qt.workers.threads import start_in_thread

_FILE_FILTER = "Model files (" + " ".join(f"*{s}" for s in MODEL_SUFFIXES) + ");;All files (*)"
_ACTION_WORDS = {
    "copied": "copied",
    "moved": "moved",
    "hard-linked": "hard-linked",
    "symlinked": "linked (symbolic link)",
    "converted": "converted to safetensors",
}


def import_summary(
    results: list[ImportResult], refusals: list[tuple[str, str]], cancelled: bool = False
) -> tuple[str, str]:
    """One notice for a whole batch: ``(level, text)`` with level "info" or "error"."""
    installed = [r for r in results if r.action != "duplicate"]
    duplicates = [r for r in results if r.action == "duplicate"]
    parts: list[str] = []
    if len(installed) == 1:
        parts.append(clean_text(installed[0].message))
    elif installed:
        counts = Counter(_ACTION_WORDS.get(r.action, r.action) for r in installed)
        parts.append(f"Installed {len(installed)} models ({', '.join(f'{n} {a}' for a, n in counts.items())}).")
    if len(duplicates) == 1:
        parts.append(clean_text(duplicates[0].message) + " It was not added again.")
    elif duplicates:
        names = ", ".join(clean_text(r.source.name) for r in duplicates[:3])
        more = f" and {len(duplicates) - 3} more" if len(duplicates) > 3 else ""
        parts.append(
            f"{len(duplicates)} were already in the library (same bytes) and were not added again: {names}{more}."
        )
    for name, reason in refusals[:2]:
        parts.append(reason if name in reason else f"{name}: {reason}")
    if len(refusals) > 2:
        parts.append(f"{len(refusals) - 2} more were not installed.")
    if cancelled:
        parts.append("Installing was cancelled; what was done so far stays installed.")
    if not parts:
        parts.append("Nothing was installed.")
    return ("error" if refusals else "info"), " ".join(parts)


def may_hold_pickles(paths: list[Path]) -> bool:
    """Whether the conversion question applies: a pickle file, or a folder that may hold some."""
    return any(p.is_dir() or p.suffix.lower() in PICKLE_SUFFIXES for p in paths)


class LibraryInstaller(QObject):
    """Install batches (one at a time, queued) and the existing-installs offer.

    Signals:
        message(str level, str text): one summary per batch, or a note ("info" / "error")
        installed(object list[str]): library paths of what a batch installed or found already there
        busy_changed(bool): an install batch started / the last one ended
        progress(int index, int count, int percent, str name): percent -1 while checking a file
        roots_chosen(object list[Path]): folders of existing installs the user chose to add
        installs_searched(int): the search for existing installs ended with this many new folders
    """

    message = Signal(str, str)
    installed = Signal(object)
    busy_changed = Signal(bool)
    progress = Signal(int, int, int, str)
    roots_chosen = Signal(object)
    installs_searched = Signal(int)

    def __init__(
        self,
        data: DataDir,
        roots: Callable[[], list[Path]],
        parent_widget: QWidget,
        home: Path | None = None,
    ) -> None:
        super().__init__(parent_widget)
        self._data = data
        self._roots = roots
        self._widget = parent_widget
        self._home = home
        self.mode = ImportMode.COPY
        self.convert_pickles = True
        self.ask = True  # False once the user ticked "use this choice without asking"
        self.import_dialog: ImportDialog | None = None
        self.installs_dialog: InstallsDialog | None = None
        self._pending: list[Path] = []
        self._queue: list[tuple[list[Path], ImportMode, bool]] = []
        self._thread: QThread | None = None
        self._worker: LibraryImportWorker | None = None
        self._results: list[ImportResult] = []
        self._refusals: list[tuple[str, str]] = []
        self._cancelled = False
        self._search_thread: QThread | None = None
        self._search_worker: InstallsWorker | None = None
        self._search_quiet = False

    # -- installing --------------------------------------------------------------------------

    def install(self, paths: list[Path]) -> None:
        """Install ``paths``, asking how first unless the user chose not to be asked again."""
        paths = [Path(p) for p in paths]
        if not paths:
            return
        pickles = may_hold_pickles(paths)
        if not self.ask and not pickles:
            self.install_with(paths, self.mode, self.convert_pickles)
            return
        if self.import_dialog is not None:  # a second drop while asking: ask once for both
            self._pending.extend(paths)
            return
        self._pending = paths
        self.import_dialog = ImportDialog(
            [clean_text(p.name) for p in paths], self.mode, pickles, self.convert_pickles, self._widget
        )
        self.import_dialog.remember.setChecked(not self.ask)
        self.import_dialog.finished.connect(self._on_import_dialog_finished)
        self.import_dialog.open()

    def install_with(self, paths: list[Path], mode: ImportMode, convert_pickles: bool) -> None:
        """Install without asking (the dialog's answer, or a caller that knows)."""
        self._queue.append(([Path(p) for p in paths], mode, convert_pickles))
        if self._thread is None:
            self._start_next()

    def pick_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self._widget, "Install model files", "", _FILE_FILTER)
        if files:
            self.install([Path(f) for f in files])

    def pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._widget, "Install a model folder or a folder of models")
        if folder:
            self.install([Path(folder)])

    def is_busy(self) -> bool:
        return self._thread is not None

    @Slot()
    def cancel(self) -> None:
        self._queue.clear()
        if self._worker is not None:
            self._worker.request_cancel()

    def shutdown(self) -> None:
        """Cancel and wait for the worker threads; close open dialogs."""
        self.cancel()
        for dialog in (self.import_dialog, self.installs_dialog):
            if dialog is not None:
                dialog.reject()
        for thread in (self._thread, self._search_thread):
            if thread is not None:
                thread.quit()
                thread.wait()

    def _start_next(self) -> None:
        paths, mode, convert = self._queue.pop(0)
        self._results, self._refusals, self._cancelled = [], [], False
        worker = LibraryImportWorker(self._data, paths, mode, convert, self._roots())
        worker.progress.connect(self._on_worker_progress)
        worker.imported.connect(self._on_worker_imported)
        worker.refused.connect(self._on_worker_refused)
        worker.cancelled.connect(self._on_worker_cancelled)
        self._worker = worker
        self.busy_changed.emit(True)
        self._thread = start_in_thread(worker, self, self._on_thread_finished)

    @Slot(int)
    def _on_import_dialog_finished(self, result: int) -> None:
        dialog, paths = self.import_dialog, self._pending
        self.import_dialog, self._pending = None, []
        if dialog is None:
            return
        if result == QDialog.DialogCode.Accepted.value:
            self.mode = dialog.mode()
            if not dialog.convert.isHidden():  # only asked when pickles may be among the files
                self.convert_pickles = dialog.convert_pickles()
            self.ask = not dialog.remember.isChecked()
            self.install_with(paths, self.mode, dialog.convert_pickles())
        dialog.deleteLater()

    @Slot(int, int, int, str)
    def _on_worker_progress(self, index: int, count: int, percent: int, name: str) -> None:
        self.progress.emit(index, count, percent, name)

    @Slot(object)
    def _on_worker_imported(self, result: ImportResult) -> None:
        self._results.append(result)

    @Slot(str, str)
    def _on_worker_refused(self, name: str, reason: str) -> None:
        self._refusals.append((name, reason))

    @Slot()
    def _on_worker_cancelled(self) -> None:
        self._cancelled = True

    @Slot()
    def _on_thread_finished(self) -> None:
        self._thread, self._worker = None, None
        level, text = import_summary(self._results, self._refusals, self._cancelled)
        self.installed.emit([str(r.destination) for r in self._results])
        self.message.emit(level, text)
        if self._queue:
            self._start_next()
        else:
            self.busy_changed.emit(False)

    # -- existing installs -------------------------------------------------------------------

    def find_installs(self, quiet: bool = False) -> None:
        """Look for A1111/Forge/ComfyUI/InvokeAI installs and the HF cache; offer what is new.

        ``quiet`` (the first-run offer) says nothing when nothing is found.
        """
        if self._search_thread is not None or self.installs_dialog is not None:
            return
        self._search_quiet = quiet
        worker = InstallsWorker(self._home)
        worker.found.connect(self._on_installs_found)
        self._search_worker = worker
        self._search_thread = start_in_thread(worker, self, self._on_search_thread_finished)

    def is_searching(self) -> bool:
        return self._search_thread is not None

    def _is_known(self, path: Path) -> bool:
        try:
            resolved = path.resolve()
        except OSError:
            return True
        for root in self._roots():
            try:
                resolved.relative_to(root.resolve())  # the same folder, or one already inside a source
                return True
            except (ValueError, OSError):
                continue
        return False

    @Slot(object)
    def _on_installs_found(self, roots: list[DetectedRoot]) -> None:
        new = [r for r in roots if not self._is_known(r.path)]
        self.installs_searched.emit(len(new))
        if not new:
            if not self._search_quiet:
                self.message.emit(
                    "info",
                    "No new installs found in the usual places (AUTOMATIC1111, Forge, ComfyUI, InvokeAI, "
                    "the Hugging Face cache). Use Add folder… to add any folder.",
                )
            return
        self.installs_dialog = InstallsDialog(new, self._widget)
        self.installs_dialog.finished.connect(self._on_installs_dialog_finished)
        self.installs_dialog.open()

    @Slot(int)
    def _on_installs_dialog_finished(self, result: int) -> None:
        dialog, self.installs_dialog = self.installs_dialog, None
        if dialog is None:
            return
        chosen = dialog.chosen() if result == QDialog.DialogCode.Accepted.value else []
        dialog.deleteLater()
        if chosen:
            self.roots_chosen.emit(chosen)
            n = len(chosen)
            self.message.emit(
                "info", f"Added {n} folder{'s' if n > 1 else ''} to the library; they are used where they are."
            )

    @Slot()
    def _on_search_thread_finished(self) -> None:
        self._search_thread, self._search_worker = None, None
