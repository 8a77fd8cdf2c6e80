"""Details pane of the library: everything known about one entry, and the user's own fields."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.library.catalog import CatalogRecord, UserData, clean_text
from lorastudio.core.metadata.sidecars import split_words
from lorastudio.qt.models.library_model import KIND_LABELS, compatibility, human_size

_COMPAT_TEXT = {
    "ok": "✓ Compatible with the current checkpoint",
    "mismatch": "✗ Trained for another base than the current checkpoint",
    "unknown": "? Base unknown: may or may not fit the current checkpoint",
}


class LibraryDetails(QWidget):
    """Shows one catalog record; edits favorite, rating, tags, trigger words, weight and notes.

    Signals:
        user_data_edited(str path, object UserData): the user pressed Save
    """

    user_data_edited = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._record: CatalogRecord | None = None
        self.setMinimumWidth(320)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        lay = QVBoxLayout(body)

        self.preview = QLabel()
        self.preview.setFixedHeight(200)
        self.preview.setScaledContents(False)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setStyleSheet("font-size: 16pt; font-weight: 600;")
        self.path_label = QLabel()
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.compat = QLabel()
        self.compat.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        self.open_folder = QPushButton("Folder")
        self.open_folder.setToolTip("Open the folder that holds this file")
        self.copy_sha = QPushButton("Copy SHA-256")
        self.copy_addnet = QPushButton("Copy LoRA hash")
        for b in (self.open_folder, self.copy_sha, self.copy_addnet):
            # Compact padding: the three must fit the library column at 1024×700 (issue 16, item 12).
            b.setStyleSheet("QPushButton { padding: 3px 6px; }")
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.open_folder.clicked.connect(self._on_open_folder_clicked)
        self.copy_sha.clicked.connect(self._on_copy_sha_clicked)
        self.copy_addnet.clicked.connect(self._on_copy_addnet_clicked)

        self.facts = QFormLayout()
        self.facts.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)

        user_box = QFormLayout()
        self.favorite = QCheckBox("Favorite")
        self.rating = QSpinBox()
        self.rating.setRange(0, 5)
        self.rating.setSpecialValueText("not rated")
        self.tags = QLineEdit()
        self.tags.setPlaceholderText("comma-separated, e.g. style, anime")
        self.words = QLineEdit()
        self.words.setPlaceholderText("your trigger words, comma-separated")
        self.weight = QDoubleSpinBox()
        self.weight.setRange(-0.05, 4.0)
        self.weight.setSingleStep(0.05)
        self.weight.setSpecialValueText("default")
        self.weight.setValue(-0.05)
        self.notes = QPlainTextEdit()
        self.notes.setPlaceholderText("notes")
        self.notes.setFixedHeight(80)
        self.notes.setTabChangesFocus(True)  # Tab moves on to Save instead of typing a tab
        self.save = QPushButton("Save")
        self.save.clicked.connect(self._on_save_clicked)
        user_box.addRow(self.favorite)
        user_box.addRow("Rating", self.rating)
        user_box.addRow("Tags", self.tags)
        user_box.addRow("Trigger words", self.words)
        user_box.addRow("Preferred weight", self.weight)
        user_box.addRow("Notes", self.notes)
        user_box.addRow(self.save)

        self.metadata = QTableWidget(0, 2)
        self.metadata.setHorizontalHeaderLabels(["Key", "Value"])
        self.metadata.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.metadata.verticalHeader().setVisible(False)
        self.metadata.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.metadata.setTabKeyNavigation(False)  # Tab leaves the table; arrows move between cells
        self.metadata.setMinimumHeight(160)

        lay.addWidget(self.preview)
        lay.addWidget(self.title)
        lay.addWidget(self.path_label)
        lay.addWidget(self.compat)
        lay.addLayout(buttons)
        lay.addLayout(self.facts)
        for text, content in (("Your notes", user_box), ("File metadata", self.metadata)):
            heading = QLabel(text)
            heading.setObjectName("sectionTitle")  # the theme's section style, aligned with the rest
            heading.setContentsMargins(0, 8, 0, 0)
            lay.addWidget(heading)
            if isinstance(content, QFormLayout):
                lay.addLayout(content)
            else:
                lay.addWidget(content, 1)  # the metadata table takes the room a tall pane has
        self.show_record(None)

    def record(self) -> CatalogRecord | None:
        return self._record

    def show_record(
        self, record: CatalogRecord | None, current_base: str = "", thumbnail: QPixmap | None = None
    ) -> None:
        self._record = record
        enabled = record is not None
        for w in (
            self.open_folder,
            self.favorite,
            self.rating,
            self.tags,
            self.words,
            self.weight,
            self.notes,
            self.save,
        ):
            w.setEnabled(enabled)
        while self.facts.rowCount():
            self.facts.removeRow(0)
        self.metadata.setRowCount(0)
        if record is None:
            self.title.setText("Nothing selected")
            self.path_label.setText("Pick a model to see what it is, its trigger words and hashes.")
            self.compat.clear()
            self.preview.clear()
            self.preview.setVisible(False)
            self.copy_sha.setEnabled(False)
            self.copy_addnet.setEnabled(False)
            return
        info = record.info
        self.preview.setVisible(thumbnail is not None and not thumbnail.isNull())
        if thumbnail is not None and not thumbnail.isNull():
            self.preview.setPixmap(
                thumbnail.scaled(
                    200, 200, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
            )
        self.title.setText(clean_text(info.title or info.name))
        self.path_label.setText(clean_text(str(info.path)))
        compat = compatibility(record, current_base)
        self.compat.setText(_COMPAT_TEXT.get(compat, ""))
        color = {"ok": "#43a047", "mismatch": "#e05252"}.get(compat, "")  # readable on dark and light
        self.compat.setStyleSheet(f"color: {color}; font-weight: 600;" if color else "")
        self.copy_sha.setEnabled(record.sha256 is not None)
        self.copy_addnet.setEnabled(record.addnet is not None)

        def fact(label: str, value: str) -> None:
            if value:
                v = QLabel(clean_text(value))
                v.setWordWrap(True)
                v.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                self.facts.addRow(label, v)

        status = (
            "Missing: the file is no longer there"
            if record.missing
            else ("OK" if info.status == "ok" else clean_text(info.error))
        )
        fact("Status", status)
        kind = KIND_LABELS.get(info.kind, info.kind.value)
        if info.network and info.network != "lora":
            kind += f" ({info.network.upper() if info.network == 'dora' else info.network.capitalize()})"
        fact("Kind", kind)
        base = info.base.label + (f" ({info.variant})" if info.variant and not info.is_dir else "")
        fact("Base", base + (f" — from {info.base_signal}" if info.base_signal else ""))
        if info.lora_format.value != "none":
            fact("Format", info.lora_format.value)
        if info.rank is not None:
            fact("Rank / alpha", f"{info.rank} / {info.alpha:g}" if info.alpha is not None else str(info.rank))
        if info.kind.value in ("lora", "lycoris"):
            trains = [n for n, on in (("UNet", info.trains_unet), ("text encoder", info.trains_text_encoder)) if on]
            fact("Trains", ", ".join(trains))
        fact("Trigger words", ", ".join(record.trigger_words))
        if record.preferred_weight is not None:
            fact("Preferred weight", f"{record.preferred_weight:g}")
        fact("Size", human_size(info.size))
        fact("SHA-256 (AutoV2)", f"{record.autov2}" if record.sha256 else "not computed yet")
        if record.addnet:
            check = (
                {True: " (matches the embedded hash)", False: " (embedded hash is wrong)"}.get(
                    record.embedded_hash_ok, ""
                )
                if record.embedded_hash_ok is not None
                else ""
            )
            fact("LoRA hash (addnet)", f"{record.addnet_short}{check}")
        if info.hub.get("repo_id"):
            fact("From the Hub", f"{info.hub['repo_id']} @ {info.hub.get('revision') or info.hub.get('commit', '')}")
        fact("Description", info.description[:2000])

        self.favorite.setChecked(record.user.favorite)
        self.rating.setValue(record.user.rating)
        self.tags.setText(", ".join(record.user.tags))
        self.words.setText(", ".join(record.user.trigger_words))
        self.weight.setValue(record.user.preferred_weight if record.user.preferred_weight is not None else -0.05)
        self.notes.setPlainText(record.user.notes)

        items = list(info.metadata.items())
        self.metadata.setRowCount(len(items))
        for row, (k, v) in enumerate(items):
            self.metadata.setItem(row, 0, QTableWidgetItem(clean_text(k)))
            cell = QTableWidgetItem(clean_text(v[:300] + ("…" if len(v) > 300 else "")))
            cell.setToolTip(html.escape(clean_text(v[:3000])))
            self.metadata.setItem(row, 1, cell)
        self.metadata.resizeColumnToContents(0)

    def edited_user_data(self) -> UserData:
        weight = self.weight.value()
        return UserData(
            favorite=self.favorite.isChecked(),
            tags=split_words(self.tags.text()),
            notes=self.notes.toPlainText().strip(),
            preferred_weight=None if weight < 0 else round(weight, 2),
            trigger_words=split_words(self.words.text()),
            rating=self.rating.value(),
        )

    @Slot()
    def _on_save_clicked(self) -> None:
        if self._record is not None:
            self.user_data_edited.emit(str(self._record.path), self.edited_user_data())

    @Slot()
    def _on_open_folder_clicked(self) -> None:
        if self._record is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._record.path.parent)))

    @Slot()
    def _on_copy_sha_clicked(self) -> None:
        if self._record is not None and self._record.sha256:
            QGuiApplication.clipboard().setText(self._record.sha256)

    @Slot()
    def _on_copy_addnet_clicked(self) -> None:
        if self._record is not None and self._record.addnet:
            QGuiApplication.clipboard().setText(self._record.addnet)
