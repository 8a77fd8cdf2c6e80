"""Small modal questions shared by panels (tests replace the methods that call them)."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def ask_yes(parent: QWidget, title: str, question: str) -> bool:
    """Yes/Cancel with Cancel as the default: deleting things must be a deliberate click."""
    answer = QMessageBox.question(
        parent, title, question, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Yes
