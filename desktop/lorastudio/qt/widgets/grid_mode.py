"""The window's Grid mode: the dialog, one queued job per cell, the grid view filling as jobs finish,
and the grid PNG written when the last cell job is over (done, failed or cancelled).

The matching of jobs to cells and the files live in core (session/grid_jobs.py, grid/files.py);
this object only routes the window's signals to them.
"""

from __future__ import annotations

import io
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QWidget

from lorastudio.core import messages
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.grid.axes import GridSpec
from lorastudio.core.grid.cells import cells
from lorastudio.core.grid.files import cell_parameters
from lorastudio.core.session.grid_jobs import GridJobs, params_from_request
from lorastudio.core.session.model import SessionModel
from lorastudio.qt.widgets.compare_dialog import CompareDialog
from lorastudio.qt.widgets.grid_dialog import GridDialog
from lorastudio.qt.widgets.grid_view import GridView
from lorastudio.qt.workers.engine_worker import EngineClient


class GridMode(QObject):
    """Signals: ``message(object)`` a Message for the notice bar; ``status(str)`` the status line;
    ``started()`` a grid was queued (the window shows the grid view)."""

    message = Signal(object)
    status = Signal(str)
    started = Signal()

    def __init__(self, session: SessionModel, engine: EngineClient, folder: Path, parent: QWidget) -> None:
        super().__init__(parent)
        self.session = session
        self.engine = engine
        self.folder = folder  # outputs/grids
        self.view = GridView()
        self.dialog: GridDialog | None = None
        self.compare: CompareDialog | None = None  # the last compare window opened
        self.run: GridJobs | None = None
        self._parent = parent
        self.view.use_settings_requested.connect(self._on_use_settings)
        self.view.compare_requested.connect(self._on_compare_requested)

    @property
    def active(self) -> bool:
        """A grid has cell jobs still to run."""
        return self.run is not None and self.run.files is None and not self.run.over(self.session.queue)

    def open_dialog(self, spec: GridSpec | None = None) -> GridDialog:
        """Show the Grid dialog (not blocking), pre-filled with ``spec`` when given."""
        if self.dialog is not None:
            self.dialog.close()
        names = [s.path.stem for s in self.session.mix.value.specs]  # what an axis names
        dialog = GridDialog(names, self._parent)
        if spec is not None:
            dialog.set_axes(spec)
        dialog.accepted.connect(self._on_dialog_accepted)
        self.dialog = dialog
        dialog.open()
        return dialog

    @Slot()
    def _on_dialog_accepted(self) -> None:
        spec = self.dialog.spec() if self.dialog is not None else None
        if spec is not None:
            self.start(spec)

    def start(self, spec: GridSpec) -> bool:
        """Queue one job per cell of ``spec`` on the current settings and mix."""
        if self.active:
            self.message.emit(messages.warning("A grid is still running: cancel it or wait for it to finish."))
            return False
        try:
            base = self.session.build_request()
            grid_cells = cells(spec, base)
        except LoraStudioError as err:
            self.message.emit(messages.from_exception(err))
            return False
        run = GridJobs(spec, grid_cells, self.folder)
        self.run = run
        self.view.set_spec(spec, grid_cells)
        self.started.emit()
        for cell in grid_cells:
            run.add_job(self.engine.generate(cell.request).id, cell)
        self.status.emit(f"Grid: {run.progress()}")
        return True

    def cancel(self) -> None:
        """Cancel the grid's jobs not made yet (pending ones first, so none starts meanwhile)."""
        run = self.run
        if run is None:
            return
        queue = self.session.queue
        running = queue.running()
        ids = run.unfinished_ids(queue)
        for job_id in sorted(ids, key=lambda i: running is not None and i == running.id):
            self.engine.cancel(job_id)
        self.check_over()

    def on_finished(self, result: object, paths: list[Path]) -> None:
        """A job finished: fill its cell when it is one of the grid's."""
        run = self.run
        job_id = getattr(result, "job_id", "")
        images = getattr(result, "images", ())
        if run is None or run.cell_for(job_id) is None or not images:
            return
        from PIL import Image

        image = Image.open(io.BytesIO(images[0].png))
        image.load()
        made = run.record(job_id, image.convert("RGB"), images[0].seed, paths[0] if paths else None)
        if made is not None:
            self.view.add_cell(*made.cell.key, made.image, cell_parameters(made), made.cell.request)
            self.status.emit(f"Grid: {run.progress()}")
        self.check_over()

    def check_over(self) -> None:
        """Write the grid PNG once no cell job is left to run (call after any job ends)."""
        run = self.run
        if run is None or run.files is not None or not run.over(self.session.queue):
            return
        if not run.results:
            self.run = None
            self.message.emit(messages.info("Grid cancelled before any cell was made."))
            return
        try:
            files = run.write()
        except LoraStudioError as err:
            self.message.emit(messages.from_exception(err))
            return
        where = files.grids[0] if files and files.grids else self.folder
        made = f"{len(run.results)} of {run.total} cells" if len(run.results) < run.total else f"{run.total} cells"
        self.message.emit(messages.info(f"Grid saved ({made}): {where}"))
        self.status.emit(f"Grid saved: {where}")

    @Slot(object)
    def _on_use_settings(self, request: object) -> None:
        if not isinstance(request, GenerationRequest):
            return
        params, mix = params_from_request(self.session.params.value, request)
        self.session.params.set(params)
        self.session.mix.set(mix)
        self.message.emit(messages.info("The cell's settings and mix are back in the panel."))

    @Slot(object, object)
    def _on_compare_requested(self, first: object, second: object) -> None:
        """Two Ctrl+clicked cells: open them in a compare window (not modal: the grid stays usable)."""
        keys = [k for k in (first, second) if isinstance(k, tuple) and len(k) == 3]
        if len(keys) != 2:
            return
        images = [self.view.cell_image(*k) for k in keys]
        if images[0] is None or images[1] is None:
            return
        labels = [self.view.cell_label(*k) or f"cell {k}" for k in keys]
        self.compare = CompareDialog(images[0], images[1], labels[0], labels[1], self._parent)
        self.compare.show()
