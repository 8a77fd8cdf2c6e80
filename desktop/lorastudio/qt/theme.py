"""Dark and light themes: Fusion style with a palette, plus a few style-sheet touches."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel

ACCENT = "#7c5cff"
# Warning text (a LoRA that does not fit, a bad block-weight string): WCAG AA wants a contrast of
# at least 4.5:1 for body text. The dark theme's orange reads 6.6-8.5:1 on its greys but only
# 1.8:1 on the light theme's #efefef, so the light theme gets a burnt orange (5.3:1 there).
# Bar colours for how a run ended: red for a failure, grey for a cancel, the accent for done.
FAILED = "#c62828"
CANCELLED = "#6b6f77"
WARNING_TEXT = {"dark": "#ff9a6b", "light": "#a84300"}

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
QLabel[warning="true"] {{ color: {{warning}}; }}
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
QFrame#notice[level="warning"] {{ background: #5c4a1f; }}
QProgressBar {{ border: 1px solid #7a7f88; border-radius: 3px; text-align: center; background: palette(base);
                min-height: 16px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 2px; }}
QProgressBar[state="done"], QProgressBar[state="cancelled"] {{ color: white; }}
QProgressBar[state="failed"] {{ border-color: {FAILED}; color: white; }}
QProgressBar[state="failed"]::chunk {{ background: {FAILED}; }}
QProgressBar[state="cancelled"]::chunk {{ background: {CANCELLED}; }}
QLabel#sectionTitle {{ font-weight: 600; font-size: 13px; }}
QCheckBox::indicator {{ width: 13px; height: 13px; border: 1px solid #7a7f88; border-radius: 3px;
                        background: palette(base); }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QCheckBox::indicator:disabled {{ border-color: #4a4d55; }}
"""


def style_sheet(theme: str) -> str:
    """The application style sheet for ``theme`` ("dark" or "light")."""
    return STYLE.replace("{warning}", WARNING_TEXT["dark" if theme == "dark" else "light"])


def contrast_ratio(foreground: QColor, background: QColor) -> float:
    """WCAG 2 contrast ratio of two opaque colours, from 1.0 (same) to 21.0 (black on white)."""

    def luminance(color: QColor) -> float:
        def channel(c: float) -> float:
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(color.redF()) + 0.7152 * channel(color.greenF()) + 0.0722 * channel(color.blueF())

    hi, lo = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def warning_color(palette: QPalette | None = None) -> QColor:
    """The warning text colour that reads on ``palette`` (default: the application's)."""
    palette = palette or QApplication.palette()
    dark = palette.color(QPalette.ColorRole.Window).lightnessF() < 0.5
    return QColor(WARNING_TEXT["dark" if dark else "light"])


def mark_warning(label: QLabel) -> None:
    """Show ``label`` in the theme's warning colour (it follows a later theme switch)."""
    label.setProperty("warning", True)


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
    app.setStyleSheet(style_sheet(theme))
