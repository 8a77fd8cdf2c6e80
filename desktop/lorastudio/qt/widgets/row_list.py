"""A scrolling column of rows with an empty-state label above them (the LoRA and adapter mixers)."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget


def scrolling_rows(empty: QLabel) -> tuple[QScrollArea, QVBoxLayout]:
    """The scroll area to place, and the layout to add rows to; ``empty`` shows when there are none."""
    rows = QVBoxLayout()
    rows.setSpacing(6)
    inner = QWidget()
    lay = QVBoxLayout(inner)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(empty)
    lay.addLayout(rows)
    lay.addStretch(1)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(inner)
    return scroll, rows
