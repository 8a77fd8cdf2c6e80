"""Table model over Hub search results (core ModelSummary values)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from lorastudio.core.hub.search import ModelSummary

_Index = QModelIndex | QPersistentModelIndex
COLUMNS = ("Name", "Author", "Kind", "Base model", "Downloads", "Likes", "License", "Access")
_KIND_LABELS = {"lora": "LoRA", "checkpoint": "Checkpoint", "pipeline": "Pipeline"}


def short_count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.1f}k"
    return str(n)


class HubResultsModel(QAbstractTableModel):
    SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ModelSummary] = []

    def set_results(self, rows: list[ModelSummary]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def summary(self, row: int) -> ModelSummary:
        return self._rows[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        m = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            base = m.base_model.split("/")[-1] if m.base_model else "—"
            values = (m.name, m.author, _KIND_LABELS.get(m.kind, m.kind), base, short_count(m.downloads),
                      short_count(m.likes), m.license or "—", "gated" if m.gated else "open")
            return values[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{m.repo_id}\nbase: {m.base_model or 'unknown'}\ntags: {', '.join(m.tags[:12])}"
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (4, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == self.SUMMARY_ROLE:
            return m
        return None
