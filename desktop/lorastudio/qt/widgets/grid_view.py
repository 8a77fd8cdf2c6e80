"""An X/Y/Z grid as it is made: cells fill in as they finish, under their axis labels, one tab per Z
value; a click shows the cell large with its parameters and can put its settings back.

Holds no generation state: the spec and cells come from core/grid, images and infotext from the
caller (a queue job, the CLI runner, a grid PNG).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.grid.axes import GridSpec
from lorastudio.core.grid.cells import GridCell
from lorastudio.qt.widgets.image_view import ImageView

Key = tuple[int, int, int]


def to_qimage(image: QImage | Any) -> QImage:
    """A QImage from a QImage or a PIL image (copied: the PIL buffer may go away)."""
    if isinstance(image, QImage):
        return image
    rgb = image.convert("RGB")
    data = rgb.tobytes()
    return QImage(data, rgb.width, rgb.height, 3 * rgb.width, QImage.Format.Format_RGB888).copy()


class GridCellButton(QToolButton):
    """One cell: a placeholder until its image arrives. Ctrl+click marks it for comparing.

    Signals: ``opened()`` on a plain click, ``marked()`` on a Ctrl+click."""

    opened = Signal()
    marked = Signal()

    def __init__(self, key: Key, size: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.setFixedSize(QSize(size + 6, size + 6))
        self.setIconSize(QSize(size, size))
        self.setCheckable(True)
        self.setText("…")
        self.setToolTip("Not made yet.")
        self.setEnabled(False)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() is Qt.MouseButton.LeftButton and self.isEnabled() and self.rect().contains(
                event.position().toPoint()):
            self.setDown(False)  # the press made it look pressed; the check mark is ours to set
            if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
                self.marked.emit()
            else:
                self.opened.emit()
            event.accept()
            return
        super().mouseReleaseEvent(event)


class GridView(QWidget):
    """Signals:
    ``use_settings_requested(object)``: the GenerationRequest of the cell shown large;
    ``cell_opened(object)``: the (x, y, z) of the cell shown large;
    ``compare_requested(object, object)``: the keys of two Ctrl+clicked cells."""

    use_settings_requested = Signal(object)
    cell_opened = Signal(object)
    compare_requested = Signal(object, object)

    def __init__(self, parent: QWidget | None = None, cell_size: int = 128) -> None:
        super().__init__(parent)
        self._cell_size = cell_size
        self._spec: GridSpec | None = None
        self._requests: dict[Key, Any] = {}
        self._images: dict[Key, QImage] = {}
        self._infotext: dict[Key, str] = {}
        self._buttons: dict[Key, GridCellButton] = {}
        self._marked: list[Key] = []
        self._shown: Key | None = None

        self._stack = QStackedWidget(self)
        self._tabs = QTabWidget()
        self._tabs.setDocumentMode(True)
        self._empty = QLabel("Set up a grid: its cells appear here as they finish.")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        grid_page = QWidget()
        grid_layout = QVBoxLayout(grid_page)
        grid_layout.setContentsMargins(0, 0, 0, 0)
        self.progress_label = QLabel("")
        grid_layout.addWidget(self.progress_label)
        grid_layout.addWidget(self._tabs, 1)
        grid_layout.addWidget(self._empty, 1)
        self._stack.addWidget(grid_page)
        self._stack.addWidget(self._build_detail())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)
        self._tabs.hide()

    def _build_detail(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.detail_title = QLabel("")
        self.detail_title.setWordWrap(True)
        self.detail_image = ImageView()
        self.detail_text = QPlainTextEdit()
        self.detail_text.setReadOnly(True)
        self.detail_text.setMaximumHeight(120)
        self.back_button = QPushButton("Back to the grid")
        self.use_button = QPushButton("Use these settings")
        self.use_button.setToolTip("Put this cell's prompt, mix and settings back into the generation panel.")
        self.back_button.clicked.connect(self.show_grid)
        self.use_button.clicked.connect(self._on_use_clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.back_button)
        buttons.addStretch(1)
        buttons.addWidget(self.use_button)
        layout.addWidget(self.detail_title)
        layout.addWidget(self.detail_image, 1)
        layout.addWidget(self.detail_text)
        layout.addLayout(buttons)
        return page

    # -- set-up --------------------------------------------------------------------------------
    def spec(self) -> GridSpec | None:
        return self._spec

    def set_spec(self, spec: GridSpec, cells: Sequence[GridCell] = ()) -> None:
        """Lay out an empty grid for ``spec``; ``cells`` give each cell's request for "Use these
        settings" (``add_cell`` can pass it instead)."""
        self._spec = spec
        self._requests = {c.key: c.request for c in cells}
        self._images.clear()
        self._infotext.clear()
        self._buttons.clear()
        self._marked.clear()
        self._tabs.clear()
        nz = spec.shape[2]
        for z in range(nz):
            self._tabs.addTab(self._build_page(spec, z), spec.z.label(z) if spec.z is not None else "Grid")
        self._tabs.tabBar().setVisible(nz > 1)
        self._tabs.show()
        self._empty.hide()
        self._update_progress()
        self.show_grid()

    def _build_page(self, spec: GridSpec, z: int) -> QWidget:
        inner = QWidget()
        grid = QGridLayout(inner)
        grid.setSpacing(4)
        nx, ny, _ = spec.shape
        width = self._cell_size + 6
        for x in range(nx):
            label = QLabel(spec.x.label(x))
            label.setObjectName(f"columnLabel{x}")
            label.setWordWrap(True)
            label.setFixedWidth(width)
            label.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom)
            grid.addWidget(label, 0, x + 1)
        for y in range(ny):
            if spec.y is not None:
                label = QLabel(spec.y.label(y))
                label.setObjectName(f"rowLabel{y}")
                label.setWordWrap(True)
                label.setMaximumWidth(max(width, 160))
                # Word-wrapped labels otherwise break "Seed: 7" in two; long ones still wrap.
                label.setMinimumWidth(min(label.fontMetrics().horizontalAdvance(label.text()) + 8, 160))
                label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                grid.addWidget(label, y + 1, 0)
            for x in range(nx):
                button = GridCellButton((x, y, z), self._cell_size)
                button.opened.connect(self._on_cell_opened)
                button.marked.connect(self._on_cell_marked)
                self._buttons[(x, y, z)] = button
                grid.addWidget(button, y + 1, x + 1)
        grid.setRowStretch(ny + 1, 1)
        grid.setColumnStretch(nx + 1, 1)
        scroll = QScrollArea()
        scroll.setWidget(inner)
        scroll.setWidgetResizable(True)
        scroll.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        return scroll

    # -- cells ---------------------------------------------------------------------------------
    def add_cell(self, x: int, y: int, z: int, image: QImage | Any, infotext: str = "",
                 request: object | None = None) -> None:
        """Fill cell (x, y, z) with ``image`` (QImage or PIL) and its parameters text."""
        key = (x, y, z)
        button = self._buttons.get(key)
        if button is None:
            return  # a late result of a grid that was replaced: nothing to fill
        qimage = to_qimage(image)
        self._images[key] = qimage
        self._infotext[key] = infotext
        if request is not None:
            self._requests[key] = request
        thumb = qimage.scaled(self._cell_size, self._cell_size, Qt.AspectRatioMode.KeepAspectRatio,
                              Qt.TransformationMode.SmoothTransformation)
        button.setIcon(QIcon(QPixmap.fromImage(thumb)))
        button.setText("")
        button.setToolTip(f"{self._key_label(key)}\nClick to see it large; Ctrl+click two cells to compare.")
        button.setEnabled(True)
        self._update_progress()

    def cell_image(self, x: int, y: int, z: int = 0) -> QImage | None:
        return self._images.get((x, y, z))

    def cell_button(self, x: int, y: int, z: int = 0) -> GridCellButton | None:
        return self._buttons.get((x, y, z))

    def cell_label(self, x: int, y: int, z: int = 0) -> str:
        """What names cell (x, y, z): its axis values, as its tooltip and a compare window show it."""
        return self._key_label((x, y, z))

    def filled_count(self) -> int:
        return len(self._images)

    def _key_label(self, key: Key) -> str:
        spec = self._spec
        if spec is None:
            return ""
        parts = [spec.x.label(key[0])]
        if spec.y is not None:
            parts.append(spec.y.label(key[1]))
        if spec.z is not None:
            parts.append(spec.z.label(key[2]))
        return " · ".join(parts)

    def _update_progress(self) -> None:
        total = self._spec.count if self._spec is not None else 0
        self.progress_label.setText(f"{len(self._images)} of {total} cells made" if total else "")

    # -- large view ----------------------------------------------------------------------------
    def show_cell(self, x: int, y: int, z: int = 0) -> None:
        """Show cell (x, y, z) large with its parameters (nothing happens for a cell not made yet)."""
        key = (x, y, z)
        image = self._images.get(key)
        if image is None:
            return
        self._shown = key
        self.detail_title.setText(self._key_label(key))
        self.detail_image.show_image(image)
        self.detail_text.setPlainText(self._infotext.get(key, ""))
        self.use_button.setEnabled(key in self._requests)
        self._stack.setCurrentIndex(1)
        self.cell_opened.emit(key)

    def show_grid(self) -> None:
        self._shown = None
        self._stack.setCurrentIndex(0)

    def showing_cell(self) -> Key | None:
        return self._shown

    def _on_cell_opened(self) -> None:
        button = self.sender()
        if isinstance(button, GridCellButton):
            button.setChecked(button.key in self._marked)
            self.show_cell(*button.key)

    def _on_cell_marked(self) -> None:
        button = self.sender()
        if not isinstance(button, GridCellButton):
            return
        key = button.key
        if key in self._marked:
            self._marked.remove(key)
        else:
            self._marked.append(key)
        for k, b in self._buttons.items():
            b.setChecked(k in self._marked)
        if len(self._marked) == 2:
            first, second = self._marked
            self._marked.clear()
            for b in self._buttons.values():
                b.setChecked(False)
            self.compare_requested.emit(first, second)

    def _on_use_clicked(self) -> None:
        if self._shown is not None and self._shown in self._requests:
            self.use_settings_requested.emit(self._requests[self._shown])
