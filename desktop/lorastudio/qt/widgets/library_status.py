"""The library's bottom row: entry counts, scan progress and install progress with its Stop button."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QToolButton, QWidget

from lorastudio.qt.widgets.elided_label import ElidedLabel


class LibraryStatusBar(QWidget):
    """One line of status text (the counts, unless something is under way) and two progress bars.

    The owner connects ``import_cancel`` to stop installing.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.counts_text = ""  # shown again once a scan, an install or a drag is over
        self._counts = ""
        self._skipped = ""  # the last scan's "3 skipped — why": nothing is left out silently
        self.status = ElidedLabel()  # "… hidden because they do not fit…" must not widen the window
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setVisible(False)
        self.import_progress = QProgressBar()
        self.import_progress.setMaximumWidth(240)
        self.import_progress.setVisible(False)
        self.import_cancel = QToolButton()
        self.import_cancel.setText("Stop")
        self.import_cancel.setToolTip("Stop installing; what is already installed stays")
        self.import_cancel.setVisible(False)
        bottom = QHBoxLayout(self)
        bottom.setContentsMargins(0, 0, 0, 0)  # lines up with the cards above, as a plain sub-layout would
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.progress)
        bottom.addWidget(self.import_progress)
        bottom.addWidget(self.import_cancel)

    @Slot(str)
    def show_text(self, text: str) -> None:
        self.status.setText(text)

    def show_counts(self) -> None:
        self.status.setText(self.counts_text)

    def set_counts(self, shown: int, total: int, hidden: int, show: bool) -> None:
        """Remember the counts line; ``show`` it now (not while a scan reports its progress)."""
        text = f"{shown:,} of {total:,} shown" if shown != total else f"{total:,} models"
        if hidden:
            text += f" · {hidden:,} hidden because they do not fit the current checkpoint"
        self._counts = text
        self.counts_text = f"{text} · {self._skipped}" if self._skipped else text
        if show:
            self.status.setText(self.counts_text)

    def set_skipped(self, summary: str) -> None:
        """Remember what the last scan left out (e.g. "2 skipped — 2 symlink loops"); "" for nothing."""
        self._skipped = summary
        self.status.setToolTip(summary)
        self.counts_text = f"{self._counts} · {summary}" if summary and self._counts else (self._counts or summary)

    def scan_started(self) -> None:
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.status.setText("Scanning…")

    @Slot(int, int, str)
    def show_scan_progress(self, done: int, total: int, phase: str) -> None:
        """``phase``: "load" (reading the catalog), "walk" / "scan" (listing folders), "read"
        (reading new and changed files, ``done`` of ``total``) or "hash"."""
        if phase == "load":
            self.status.setText("Loading the library…")
        elif phase in ("walk", "scan"):
            self.progress.setRange(0, 0)
            self.status.setText(f"Scanning… {done:,} files looked at")
        elif phase == "read":
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)
            self.status.setText(f"Reading new and changed files… {done:,} of {total:,}")
        else:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)
            self.status.setText(f"Computing hashes… {done:,} of {total:,}")

    def scan_ended(self) -> None:
        self.progress.setVisible(False)
        self.status.setText(self.counts_text)

    @Slot(bool)
    def set_installing(self, busy: bool) -> None:
        self.import_progress.setVisible(busy)
        self.import_cancel.setVisible(busy)
        self.import_progress.setRange(0, 0)
        if not busy:
            self.status.setText(self.counts_text)

    @Slot(int, int, int, str)
    def show_install_progress(self, index: int, count: int, percent: int, name: str) -> None:
        if percent < 0:
            self.import_progress.setRange(0, 0)
        else:
            self.import_progress.setRange(0, 100)
            self.import_progress.setValue(percent)
        prefix = f"Installing {index + 1} of {count}: " if count > 1 else "Installing "
        self.status.setText(prefix + name)
