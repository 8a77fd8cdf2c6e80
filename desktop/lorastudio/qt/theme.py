"""Dark and light themes: Fusion style with a palette, plus a few style-sheet touches."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#7c5cff"

_DARK = {
    QPalette.ColorRole.Window: "#1f2126",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#16181c",
    QPalette.ColorRole.AlternateBase: "#23262c",
    QPalette.ColorRole.ToolTipBase: "#2a2d34",
    QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#2a2d34",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.BrightText: "#ffffff",
    QPalette.ColorRole.Highlight: ACCENT,
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#9d86ff",
    QPalette.ColorRole.PlaceholderText: "#8a8f98",
}

STYLE = f"""
QToolTip {{ padding: 4px; }}
QPushButton#primary {{ background: {ACCENT}; color: white; font-weight: 600; padding: 6px 16px;
                       border-radius: 4px; border: none; }}
QPushButton#primary:disabled {{ background: #4b4763; color: #bbb; }}
QLabel#badge {{ border-radius: 3px; padding: 1px 5px; font-size: 11px; color: white; background: #555; }}
QLabel#badge[warn="true"] {{ background: #b3541e; }}
QLabel#badge[ok="true"] {{ background: #2f7d4f; }}
QLabel#muted {{ color: palette(placeholder-text); }}
QFrame#notice {{ border-radius: 4px; padding: 2px; }}
QFrame#notice[level="error"] {{ background: #5c1f24; }}
QFrame#notice[level="info"] {{ background: #243b5c; }}
QLabel#sectionTitle {{ font-weight: 600; font-size: 13px; }}
QCheckBox::indicator {{ width: 13px; height: 13px; border: 1px solid #7a7f88; border-radius: 3px;
                        background: palette(base); }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QCheckBox::indicator:disabled {{ border-color: #4a4d55; }}
"""


def apply_theme(app: QApplication, theme: str = "dark") -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    if theme == "dark":
        for role, color in _DARK.items():
            palette.setColor(role, QColor(color))
        for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
            palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b6f77"))
    else:
        palette = app.style().standardPalette()
        palette.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    app.setPalette(palette)
    app.setStyleSheet(STYLE)
