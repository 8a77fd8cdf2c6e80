"""The model page: card as rich text, preview image, files with sizes and relevance, Install."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QPixmap, QTextDocument
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.hub.card import ModelPage
from lorastudio.qt.widgets.downloads_panel import human_bytes

_KIND_LABELS = {"lora": "LoRA adapter", "checkpoint": "Checkpoint", "pipeline": "Diffusers pipeline"}


class HubModelView(QWidget):
    """Signals: install_requested(str repo_id, str revision, object files: tuple[str, ...])."""

    install_requested = Signal(str, str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.page: ModelPage | None = None
        self.title = QLabel("Pick a model on the left to see its page.")
        self.title.setObjectName("sectionTitle")
        self.title.setWordWrap(True)
        self.facts = QLabel()
        self.facts.setWordWrap(True)
        self.facts.setObjectName("muted")
        self.preview = QLabel()
        self.preview.setFixedSize(128, 128)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setObjectName("thumbnail")
        self.card = QTextBrowser()
        self.card.setOpenLinks(False)
        self.card.anchorClicked.connect(self._on_card_link)
        self.files = QTreeWidget()
        self.files.setHeaderLabels(["File", "Size", "Use"])
        self.files.setRootIsDecorated(False)
        self.files.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.files.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.files.header().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        # Fusion draws an unchecked item-view box in a dark-on-dark colour: outline it like the
        # theme's QCheckBox so it shows in both themes.
        self.files.setStyleSheet(
            "QTreeView::indicator { width: 13px; height: 13px; border: 1px solid #7a7f88; border-radius: 3px;"
            " background: palette(base); }"
            "QTreeView::indicator:checked { background: palette(highlight); border-color: palette(highlight);"
            " image: none; }")
        self.install_button = QPushButton("Install")
        self.install_button.setObjectName("primary")
        self.install_button.setMinimumWidth(140)
        self.install_button.setEnabled(False)
        self.install_button.clicked.connect(self._on_install)
        self.install_note = QLabel()
        self.install_note.setObjectName("muted")
        self.install_note.setWordWrap(True)

        head_text = QVBoxLayout()
        head_text.addWidget(self.facts)
        head_text.addStretch(1)
        head_text.addWidget(self.install_note)
        head_text.addWidget(self.install_button, 0, Qt.AlignmentFlag.AlignLeft)
        head = QHBoxLayout()
        head.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignTop)
        head.addLayout(head_text, 1)
        self.body = QWidget()  # hidden until a page is shown: the empty state is just the title
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addLayout(head)
        body.addWidget(self.card, 1)
        body.addWidget(self.files)  # as tall as its rows (show_page), so the card gets the rest
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addWidget(self.body, 1)
        self.files.itemChanged.connect(self._on_file_toggled)
        self.clear()

    def clear(self, message: str = "Pick a model on the left to see its page.") -> None:
        self.page = None
        self.title.setText(escape(message))
        self.facts.clear()
        self.preview.clear()
        self.preview.setText("no preview")
        self.card.clear()
        self.files.clear()
        self.install_button.setEnabled(False)
        self.install_note.clear()
        self.body.hide()
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def loading(self, repo_id: str) -> None:
        self.clear(f"Loading {repo_id}…")

    def show_page(self, page: ModelPage, card_markdown: str, preview: Path | None) -> None:
        self.page = page
        self.body.show()
        self.title.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        s = page.summary
        # Names come from the Hub (untrusted): escape them before they meet rich text.
        self.title.setText(f"<span style='font-size:15pt; font-weight:600'>{escape(s.name)}</span>"
                           f"<br><span>by {escape(s.author)}</span>")
        bits = [_KIND_LABELS.get(page.kind, page.kind), f"base: {s.base_model or 'unknown'}",
                f"license: {s.license or 'unknown'}", f"↓ {s.downloads:,}", f"♥ {s.likes:,}",
                f"commit {page.commit[:8]}" if page.commit else ""]
        if s.gated:
            bits.append("gated: accept the license on the Hub and add your token")
        self.facts.setText("<br>".join(escape(b) for b in bits if b))
        pixmap = QPixmap(str(preview)) if preview else QPixmap()
        if pixmap.isNull():
            self.preview.setText("no preview")
        else:
            self.preview.setPixmap(pixmap.scaled(self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.SmoothTransformation))
        # Core already stripped HTML; NoHTML makes Qt ignore any that slipped through.
        self.card.document().setMarkdown(card_markdown or "*This repo has no model card.*",
                                         QTextDocument.MarkdownFeature.MarkdownDialectGitHub
                                         | QTextDocument.MarkdownFeature.MarkdownNoHTML)
        self.files.blockSignals(True)
        self.files.clear()
        default = set(page.default_install())
        # Weights first: they are what Install takes; README and images follow, dimmed.
        for f in sorted(page.files, key=lambda f: not f.relevant):
            item = QTreeWidgetItem([f.path, human_bytes(f.size) if f.size is not None else "?",
                                    "refused: " + f.unsafe if f.unsafe else
                                    ("pipeline" if page.is_pipeline and f.relevant else
                                     "weights" if f.relevant else "")])
            item.setData(0, Qt.ItemDataRole.UserRole, f.path)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
            if f.relevant and not f.unsafe and not page.is_pipeline:
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(0, Qt.CheckState.Checked if f.path in default else Qt.CheckState.Unchecked)
            if not f.relevant:
                item.setForeground(0, self.palette().placeholderText())
            self.files.addTopLevelItem(item)
        self.files.blockSignals(False)
        self._fit_files_height()
        self._update_install()

    def _fit_files_height(self, max_rows: int = 8) -> None:
        rows = min(self.files.topLevelItemCount(), max_rows)
        row_height = self.files.sizeHintForRow(0) if rows else 0
        self.files.setFixedHeight(self.files.header().sizeHint().height() + max(rows, 2) * max(row_height, 18)
                                  + 2 * self.files.frameWidth() + 2)

    def selected_files(self) -> tuple[str, ...]:
        out = []
        for i in range(self.files.topLevelItemCount()):
            item = self.files.topLevelItem(i)
            if item.flags() & Qt.ItemFlag.ItemIsUserCheckable and item.checkState(0) == Qt.CheckState.Checked:
                out.append(str(item.data(0, Qt.ItemDataRole.UserRole)))
        return tuple(out)

    def _update_install(self) -> None:
        page = self.page
        if page is None:
            return
        if page.is_pipeline:
            total = sum(f.size or 0 for f in page.files if f.relevant)
            ok = not any(f.unsafe for f in page.files)
            self.install_note.setText(f"Whole pipeline, {human_bytes(total)}, into the shared Hugging Face cache."
                                      if ok else "This repo has unsafe file names; it cannot be installed.")
        else:
            chosen = self.selected_files()
            total = sum((page.file(p).size or 0) for p in chosen if page.file(p))
            folder = "LoRAs" if page.kind == "lora" else "Checkpoints"
            ok = bool(chosen)
            self.install_note.setText(f"{len(chosen)} file(s), {human_bytes(total)}, into {folder}." if ok
                                      else "No .safetensors weights selected.")
        self.install_button.setEnabled(ok)

    @Slot(QTreeWidgetItem, int)
    def _on_file_toggled(self, item: QTreeWidgetItem, column: int) -> None:
        self._update_install()

    @Slot()
    def _on_install(self) -> None:
        if self.page is None:
            return
        files = () if self.page.is_pipeline else self.selected_files()
        self.install_requested.emit(self.page.summary.repo_id, self.page.revision, files)

    @Slot(QUrl)
    def _on_card_link(self, url: QUrl) -> None:
        if url.scheme() in ("http", "https"):  # the sanitizer left only these
            QDesktopServices.openUrl(url)
