"""Installing files into the library off the GUI thread, one source after another.

A dropped folder that is not itself a model folder (a pipeline, a PEFT adapter) is expanded into
the model files and model folders under it, the way the scanner walks a root. Each entry goes
through ``core.library.importer.import_path``; a refusal is reported and the rest goes on.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import GenerationCancelled, LoraStudioError
from lorastudio.core.library.catalog import Catalog, clean_text
from lorastudio.core.library.importer import ImportMode, ImportResult, import_path
from lorastudio.core.library.scanner import iter_entries
from lorastudio.core.metadata.detect import folder_kind
from lorastudio.core.paths import DataDir
from lorastudio.core.runtime import EngineRuntime, engine_python


def _inside(path: Path, roots: list[Path]) -> bool:
    try:
        resolved = path.resolve()
    except OSError:
        return False
    for root in roots:
        try:
            resolved.relative_to(root.resolve())
            return True
        except (ValueError, OSError):
            continue
    return False


class LibraryImportWorker(QObject):
    """Installs ``sources`` with ``import_path`` (copy, move or link; pickles converted or refused).

    Signals:
        progress(int index, int count, int percent, str name): percent -1 while hashing/checking
        imported(object ImportResult): one entry installed, converted or found to be a duplicate
        refused(str name, str reason): one entry was not installed, with the reason for the user
        cancelled(): the user stopped it; entries already installed stay installed
        done(): always last
    """

    progress = Signal(int, int, int, str)
    imported = Signal(object)
    refused = Signal(str, str)
    cancelled = Signal()
    done = Signal()

    def __init__(
        self, data: DataDir, sources: list[Path], mode: ImportMode, convert_pickles: bool, roots: list[Path]
    ) -> None:
        super().__init__()
        self._data = data
        self._sources = [Path(s) for s in sources]
        self._mode = mode
        self._convert = convert_pickles
        self._roots = roots  # files already under a library root are reported, not installed again
        self._index = 0
        self._count = 0
        self._name = ""
        self.cancel_token = CancelToken()

    def request_cancel(self) -> None:
        self.cancel_token.cancel()

    def entries(self) -> list[Path]:
        """The sources, with plain folders expanded into the model files and folders they hold."""
        out: list[Path] = []
        for source in self._sources:
            if source.is_dir() and folder_kind(source) is None:
                out.extend(e.path for e in iter_entries(source, cancel=self.cancel_token))
            else:
                out.append(source)
        return list(dict.fromkeys(out))

    @Slot()
    def run(self) -> None:
        try:
            entries = self.entries()
            self._count = len(entries)
            if not entries:
                self.refused.emit(
                    ", ".join(clean_text(s.name) for s in self._sources)[:200],
                    "No model files were found there.",
                )
            with Catalog(self._data.catalog_db) as catalog:
                for i, path in enumerate(entries):
                    if self.cancel_token.cancelled:
                        self.cancelled.emit()
                        break
                    self._index, self._name = i, clean_text(path.name)
                    self.progress.emit(i, self._count, -1, self._name)
                    self._install(catalog, path)
        except GenerationCancelled:
            self.cancelled.emit()
        except Exception as err:  # a bug or a disk error: report it, never crash the window
            traceback.print_exc()
            self.refused.emit(self._name or "install", f"Installing stopped: {err}")
        finally:
            self.done.emit()

    def _install(self, catalog: Catalog, path: Path) -> None:
        name = clean_text(path.name)
        if _inside(path, self._roots):
            self.imported.emit(ImportResult(path, path, "duplicate", f"{name} is already in the library."))
            return
        try:
            result = import_path(
                self._data,
                catalog,
                path,
                self._mode,
                convert_pickles=self._convert,
                cancel=self.cancel_token,
                progress=self._on_copy_progress,
                # Pickles are converted by the engine runtime's Python: torch never loads in the window.
                python=engine_python(EngineRuntime(self._data.runtime)) if self._convert else None,
            )
        except GenerationCancelled:
            raise
        except LoraStudioError as err:
            self.refused.emit(name, str(err))
            return
        except OSError as err:
            self.refused.emit(name, f"{name} could not be installed: {err.strerror or err}.")
            return
        self.imported.emit(result)

    def _on_copy_progress(self, done: int, total: int) -> None:
        percent = int(done * 100 / total) if total else 100
        self.progress.emit(self._index, self._count, percent, self._name)
