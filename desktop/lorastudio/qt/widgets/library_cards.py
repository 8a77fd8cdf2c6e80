"""How one library entry is painted: a card in the grid, the name cell (with a thumbnail) in the list."""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QIcon, QPainter, QPainterPath, QPalette, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from lorastudio.core.library.catalog import CatalogRecord
from lorastudio.core.types import ModelKind
from lorastudio.qt.models.library_model import COMPAT_ROLE, KIND_LABELS, RECORD_ROLE

CARD_W, CARD_H, THUMB_H = 176, 236, 176
_KIND_COLORS = {
    ModelKind.LORA: "#4f7cac",
    ModelKind.LYCORIS: "#6b5fa8",
    ModelKind.CHECKPOINT: "#3f8f6b",
    ModelKind.PIPELINE: "#3f8f6b",
    ModelKind.EMBEDDING: "#a8783f",
    ModelKind.VAE: "#8f3f6b",
}
_COMPAT_BADGE = {"ok": ("✓ fits", "#2e7d32"), "mismatch": ("✗ other base", "#c62828"), "unknown": ("? base", "#6d6d6d")}


class _ScaledCache:
    """Thumbnails scaled for painting, kept between paints: smooth scaling costs ~0.3 ms a card,
    a whole screen of cards on every repaint (a scroll step, a search) otherwise."""

    def __init__(self, limit: int = 512) -> None:
        self._limit = limit
        self._items: OrderedDict[tuple[int, int, int], QPixmap] = OrderedDict()

    def get(self, pix: QPixmap, width: int, height: int, crop_square: bool = False) -> QPixmap:
        key = (pix.cacheKey(), width, height * (-1 if crop_square else 1))
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            return found
        source = pix
        if crop_square:  # a centred square, not the whole picture squashed
            side = min(pix.width(), pix.height())
            source = pix.copy((pix.width() - side) // 2, (pix.height() - side) // 2, side, side)
        scaled = source.scaled(
            QSize(width, height),
            Qt.AspectRatioMode.KeepAspectRatioByExpanding,
            Qt.TransformationMode.SmoothTransformation,
        )
        self._items[key] = scaled
        if len(self._items) > self._limit:
            self._items.popitem(last=False)
        return scaled


class LibraryCardDelegate(QStyledItemDelegate):
    """Paints one card: thumbnail (or a coloured placeholder), title, kind/base and badges."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scaled = _ScaledCache()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(CARD_W, CARD_H)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        record: CatalogRecord | None = index.data(RECORD_ROLE)
        if record is None:
            return
        info = record.info
        pal = option.palette  # type: ignore[attr-defined]
        rect: QRect = option.rect.adjusted(4, 4, -4, -4)  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        card = QPainterPath()
        card.addRoundedRect(rect, 8, 8)
        painter.fillPath(
            card, pal.color(QPalette.ColorRole.Highlight) if selected else pal.color(QPalette.ColorRole.AlternateBase)
        )
        thumb = QRect(rect.left() + 6, rect.top() + 6, rect.width() - 12, THUMB_H - 12)
        pix = index.data(Qt.ItemDataRole.DecorationRole)
        if record.missing:
            painter.setOpacity(0.45)
        if isinstance(pix, QPixmap) and not pix.isNull():
            # Scaled for the screen's pixels, not the card's logical size: crisp at 200 %.
            ratio = painter.device().devicePixelRatioF()
            w, h = round(thumb.width() * ratio), round(thumb.height() * ratio)
            scaled = self._scaled.get(pix, w, h)
            sx, sy = (scaled.width() - w) // 2, (scaled.height() - h) // 2
            clip = QPainterPath()
            clip.addRoundedRect(thumb, 6, 6)
            painter.setClipPath(clip)
            painter.drawPixmap(thumb, scaled, QRect(sx, sy, w, h))
            painter.setClipping(False)
        else:
            color = QColor(_KIND_COLORS.get(info.kind, "#5a5a5a"))
            color.setAlpha(150)
            ph = QPainterPath()
            ph.addRoundedRect(thumb, 6, 6)
            painter.fillPath(ph, color)
            painter.setPen(QColor("#ffffff"))
            label = KIND_LABELS.get(info.kind, "?")
            font = QFont(painter.font())
            font.setBold(True)
            font.setPointSizeF(font.pointSizeF() * 2.0)
            while font.pointSizeF() > 8 and QFontMetrics(font).horizontalAdvance(label) > thumb.width() - 16:
                font.setPointSizeF(font.pointSizeF() - 1)
            painter.setFont(font)
            painter.drawText(thumb, Qt.AlignmentFlag.AlignCenter, label)
            painter.setFont(option.font)  # type: ignore[attr-defined]
        painter.setOpacity(1.0)
        # badges over the thumbnail: favourite (left), compatibility / status (right)
        if record.user.favorite:
            self._badge(painter, thumb.left() + 4, thumb.top() + 4, "★", "#f9a825", left=True)
        badge = None
        if record.missing:
            badge = ("missing", "#6d6d6d")
        elif info.status == "error":
            badge = ("unreadable", "#c62828")
        elif info.status == "pickle":
            badge = ("pickle", "#ef6c00")
        else:
            badge = _COMPAT_BADGE.get(index.data(COMPAT_ROLE) or "")
        if badge:
            self._badge(painter, thumb.right() - 4, thumb.top() + 4, badge[0], badge[1], left=False)
        # title and one line of facts
        text_color = pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        painter.setPen(text_color)
        title_rect = QRect(rect.left() + 8, rect.top() + THUMB_H - 2, rect.width() - 16, 20)
        bold = QFont(option.font)  # type: ignore[attr-defined]
        bold.setBold(True)
        painter.setFont(bold)
        title = painter.fontMetrics().elidedText(
            index.data(Qt.ItemDataRole.DisplayRole) or "", Qt.TextElideMode.ElideRight, title_rect.width()
        )
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        painter.setFont(option.font)  # type: ignore[attr-defined]
        facts = f"{KIND_LABELS.get(info.kind, '?')} · {info.base.label}"
        if info.rank:
            facts += f" · r{info.rank}"
        sub = QColor(text_color)
        sub.setAlpha(170)
        painter.setPen(sub)
        facts_rect = QRect(rect.left() + 8, title_rect.bottom() + 2, rect.width() - 16, 18)
        painter.drawText(
            facts_rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            painter.fontMetrics().elidedText(facts, Qt.TextElideMode.ElideRight, facts_rect.width()),
        )
        painter.restore()

    @staticmethod
    def _badge(painter: QPainter, x: int, y: int, text: str, color: str, left: bool) -> None:
        fm = painter.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 12, fm.height() + 4
        r = QRect(x if left else x - w, y, w, h)
        path = QPainterPath()
        path.addRoundedRect(r, h / 2, h / 2)
        painter.fillPath(path, QColor(color))
        painter.setPen(QColor("#ffffff"))
        painter.drawText(r, Qt.AlignmentFlag.AlignCenter, text)


class LibraryListNameDelegate(QStyledItemDelegate):
    """Name column of the list: a small square thumbnail, and the same indent when there is none."""

    ICON = 20

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        blank = QPixmap(self.ICON, self.ICON)
        blank.fill(Qt.GlobalColor.transparent)
        self._blank = QIcon(blank)
        self._scaled = _ScaledCache()

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        pix = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pix, QPixmap) and not pix.isNull():
            ratio = option.widget.devicePixelRatioF() if option.widget is not None else 1.0  # type: ignore[attr-defined]
            side = round(self.ICON * ratio)  # crisp on HiDPI screens
            option.icon = QIcon(self._scaled.get(pix, side, side, crop_square=True))  # type: ignore[attr-defined]
        else:
            option.icon = self._blank  # type: ignore[attr-defined]
        option.features |= QStyleOptionViewItem.ViewItemFeature.HasDecoration  # type: ignore[attr-defined]
        option.decorationSize = QSize(self.ICON, self.ICON)  # type: ignore[attr-defined]
