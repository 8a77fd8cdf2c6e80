"""The library's search and filter rows: search, kind / base / folder filters, sort, toggles, buttons."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QMenu,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.types import BaseArch, ModelKind
from lorastudio.qt.models.library_model import KIND_LABELS, LibraryQuery, SortKey

SEARCH_DEBOUNCE_MS = 120  # typing a word rebuilds the (up to 10k-row) query once, not per letter
_FITS_TIP_OFF = "Pick a checkpoint first: then LoRAs trained for another base can be hidden"
_FITS_TIP_ON = "Hide LoRAs trained for another base than the current checkpoint (the count stays shown)"


class LibraryToolbar(QWidget):
    """Three short rows above the library: the panel shares the window with the image and the mixer.

    The owner connects the buttons and menu actions (``rescan_button``, ``install_button``,
    ``install_*_action``, ``add_folder_action``, ``find_installs_action``) and ``view_toggle``.

    Signals:
        query_changed(): a filter, the sort or (after a short pause in typing) the search changed;
            ``query()`` has the new one
    """

    query_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name, trigger words, tags, folder…")
        self.search.setClearButtonEnabled(True)
        self.kind_filter = QComboBox()
        self.kind_filter.addItem("All kinds", None)
        for kind in (
            ModelKind.CHECKPOINT,
            ModelKind.LORA,
            ModelKind.EMBEDDING,
            ModelKind.VAE,
            ModelKind.UNKNOWN,
        ):
            self.kind_filter.addItem(KIND_LABELS[kind] + ("s" if kind is not ModelKind.UNKNOWN else ""), kind)
        self.base_filter = QComboBox()
        self.base_filter.addItem("All bases", None)
        for base in BaseArch:
            self.base_filter.addItem(base.label, base)
        self.source_filter = QComboBox()
        self.favorites = QCheckBox("Favorites")
        self.compatible_only = QCheckBox("Fits checkpoint")
        self.compatible_only.setEnabled(False)
        self.compatible_only.setToolTip(_FITS_TIP_OFF)
        self.sort = QComboBox()
        for label, key in (
            ("Name", SortKey.NAME),
            ("Date added", SortKey.ADDED),
            ("Size", SortKey.SIZE),
            ("Last used", SortKey.USED),
        ):
            self.sort.addItem(f"Sort: {label}", key)
        self.view_toggle = QToolButton()
        self.view_toggle.setText("List")
        self.view_toggle.setCheckable(True)
        self.view_toggle.setToolTip("Switch between cards and a list")
        self.rescan_button = QToolButton()
        self.rescan_button.setText("Rescan")
        self.rescan_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_BrowserReload))
        self.rescan_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)  # room for the search
        self.rescan_button.setToolTip(
            "Look for new, changed and removed files now (also done when LoRA Studio comes back to the front)"
        )
        # One button for every way in: a click installs files (copy / move / link into the app's
        # folders); its menu also installs a folder, uses a folder in place, or finds other apps' installs.
        self.install_button = QToolButton()
        self.install_button.setText("Install…")
        self.install_button.setToolTip(
            "Install model files into the library (or drop them here).\n"
            "The arrow: install a folder, use a folder where it is, find existing installs."
        )
        self.install_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        install_menu = QMenu(self.install_button)
        self.install_files_action = install_menu.addAction("Install files…")
        self.install_folder_action = install_menu.addAction("Install a folder of models…")
        install_menu.addSeparator()
        self.add_folder_action = install_menu.addAction("Add a folder (used where it is)…")
        self.find_installs_action = install_menu.addAction("Find existing installs…")
        install_menu.setToolTipsVisible(True)
        self.find_installs_action.setToolTip(
            "Look for AUTOMATIC1111, Forge, ComfyUI, InvokeAI and the Hugging Face cache"
        )
        self.install_button.setMenu(install_menu)

        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        w: QWidget
        for w in (self.view_toggle, self.rescan_button, self.install_button):
            top.addWidget(w)
        filters = QHBoxLayout()
        for w in (self.kind_filter, self.base_filter, self.source_filter):
            filters.addWidget(w, 1)
        toggles = QHBoxLayout()
        for w in (self.favorites, self.compatible_only):
            toggles.addWidget(w)
        toggles.addStretch(1)
        toggles.addWidget(self.sort)
        bar = QVBoxLayout(self)
        bar.setContentsMargins(0, 0, 0, 0)  # lines up with the cards below, as a plain sub-layout would
        bar.setSpacing(4)
        for row_layout in (top, filters, toggles):
            bar.addLayout(row_layout)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self.query_changed)
        self.search.textChanged.connect(self._on_search_text_changed)
        for combo in (self.kind_filter, self.base_filter, self.source_filter, self.sort):
            combo.currentIndexChanged.connect(self._on_filter_changed)
        self.favorites.toggled.connect(self._on_filter_changed)
        self.compatible_only.toggled.connect(self._on_filter_changed)
        self.view_toggle.toggled.connect(self._on_view_toggled)

    def query(self) -> LibraryQuery:
        return LibraryQuery(
            text=self.search.text(),
            kind=self.kind_filter.currentData(),
            base=self.base_filter.currentData(),
            favorites_only=self.favorites.isChecked(),
            root=self.source_filter.currentData() or "",
            compatible_only=self.compatible_only.isChecked(),
            sort=self.sort.currentData() or SortKey.NAME,
        )

    def set_query(self, query: LibraryQuery) -> None:
        """Show ``query`` in the widgets (the folder filter stays as it is)."""
        self.search.setText(query.text)
        self.kind_filter.setCurrentIndex(max(self.kind_filter.findData(query.kind), 0))
        self.base_filter.setCurrentIndex(max(self.base_filter.findData(query.base), 0))
        self.favorites.setChecked(query.favorites_only)
        self.compatible_only.setChecked(query.compatible_only)
        self.sort.setCurrentIndex(max(self.sort.findData(query.sort), 0))

    def set_sources(self, roots: list[Path], own: Path) -> None:
        """List ``roots`` in the folder filter (``own``, the app's folder, as "App models"), keeping
        the current choice when it is still there; does not emit ``query_changed``."""
        current = self.source_filter.currentData()
        self.source_filter.blockSignals(True)
        self.source_filter.clear()
        self.source_filter.addItem("All folders", "")
        for root in roots:
            label = "App models" if root == own else root.name or str(root)
            self.source_filter.addItem(label, str(root))
            self.source_filter.setItemData(self.source_filter.count() - 1, str(root), Qt.ItemDataRole.ToolTipRole)
        i = self.source_filter.findData(current)
        self.source_filter.setCurrentIndex(max(i, 0))
        self.source_filter.blockSignals(False)

    def set_checkpoint_known(self, known: bool) -> bool:
        """Enable "Fits checkpoint" only while a checkpoint is picked. Returns True when this
        unchecked it; ``query_changed`` is not emitted then, so the owner rebuilds its query once."""
        self.compatible_only.setEnabled(known)
        self.compatible_only.setToolTip(_FITS_TIP_ON if known else _FITS_TIP_OFF)
        if known or not self.compatible_only.isChecked():
            return False
        self.compatible_only.blockSignals(True)
        self.compatible_only.setChecked(False)
        self.compatible_only.blockSignals(False)
        return True

    @Slot(str)
    def _on_search_text_changed(self, text: str) -> None:
        self._search_timer.start()

    @Slot()
    def _on_filter_changed(self) -> None:
        self.query_changed.emit()

    @Slot(bool)
    def _on_view_toggled(self, as_list: bool) -> None:
        self.view_toggle.setText("Cards" if as_list else "List")
