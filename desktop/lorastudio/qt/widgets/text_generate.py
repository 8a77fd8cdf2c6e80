"""The text generation panel: prompt, sampling settings, Generate/Stop, streamed output."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.text.mix import TextGenerationRequest, TextGenerationResult
from lorastudio.qt.widgets.number_boxes import float_box, int_box


class TextGeneratePanel(QWidget):
    """Signals: generate_requested(object TextGenerationRequest), stop_requested()."""

    generate_requested = Signal(object)
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Prompt: the text to continue")
        self.prompt.setFixedHeight(72)
        self.max_new_tokens = int_box(1, 4096, 64)
        self.temperature = float_box(0.0, 2.0, 0.8, 0.05, tip="0 = greedy: always the most likely token")
        self.top_p = float_box(0.0, 1.0, 0.95, 0.05, tip="Sample from the smallest set of tokens whose "
                               "probabilities add up to this")
        self.top_k = int_box(0, 1000, 50, tip="Sample from the k most likely tokens (0 = no limit)")
        self.repetition_penalty = float_box(0.5, 2.0, 1.0, 0.05, tip="Above 1 discourages repeating tokens")
        self.seed = int_box(-1, 2**31 - 1, 0, tip="-1 = a new random seed each time")
        self.seed.setSpecialValueText("random")

        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        for column, pairs in enumerate(((("Max new tokens", self.max_new_tokens), ("Temperature", self.temperature),
                                         ("Seed", self.seed)),
                                        (("Top-p", self.top_p), ("Top-k", self.top_k),
                                         ("Repetition penalty", self.repetition_penalty)))):
            form = QFormLayout()
            for label, widget in pairs:
                form.addRow(label, widget)
            grid.addLayout(form, 0, column)

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("primary")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.status, 1)

        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setPlaceholderText("Generated text streams here, token by token.")

        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt)
        layout.addLayout(grid)
        layout.addLayout(buttons)
        layout.addWidget(self.output, 1)

        self.generate_button.clicked.connect(self._on_generate_clicked)
        self.stop_button.clicked.connect(self._on_stop_clicked)

    def request(self) -> TextGenerationRequest:
        seed = self.seed.value()
        return TextGenerationRequest(prompt=self.prompt.toPlainText(),
                                     max_new_tokens=self.max_new_tokens.value(),
                                     temperature=self.temperature.value(), top_p=self.top_p.value(),
                                     top_k=self.top_k.value(),
                                     repetition_penalty=self.repetition_penalty.value(),
                                     seed=None if seed < 0 else seed)

    def set_running(self, running: bool) -> None:
        self.generate_button.setEnabled(not running)
        self.stop_button.setEnabled(running)

    def begin(self, prompt: str) -> None:
        """Clear the output and show the prompt, which the stream then continues."""
        self.output.setPlainText(prompt)
        self.status.setText("Generating…")
        self.set_running(True)

    def append_text(self, text: str) -> None:
        cursor = self.output.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)
        self.output.setTextCursor(cursor)
        self.output.ensureCursorVisible()

    def finish(self, result: TextGenerationResult | None) -> None:
        self.set_running(False)
        if result is None:
            self.status.setText("")
            return
        state = "Stopped" if result.cancelled else "Done"
        self.status.setText(f"{state}: {len(result.token_ids)} tokens · seed {result.seed}")

    @Slot()
    def _on_generate_clicked(self) -> None:
        self.generate_requested.emit(self.request())

    @Slot()
    def _on_stop_clicked(self) -> None:
        self.stop_requested.emit()
