"""Preferences: theme, GPU memory options, prompt helpers and the Hugging Face endpoint.

Shows a ``Settings`` value; on OK the caller applies ``changes()`` — only the fields this dialog
edits — to the one settings store, so a change made elsewhere while the dialog was open (a library
folder added) is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from lorastudio.core.paths import DataDir
from lorastudio.core.runtime import EngineRuntime
from lorastudio.core.settings import Settings, SettingsStore
from lorastudio.qt.widgets.backends_section import BackendsSection
from lorastudio.qt.widgets.runtime_section import RuntimeSection


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, device_label: str, parent: QWidget | None = None,
                 data: DataDir | None = None, *, runtime: EngineRuntime | None = None,
                 store: SettingsStore | None = None, stop_engine: Callable[[], None] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(480)
        self._settings = settings

        self.theme = QComboBox()
        self.theme.addItem("Dark", "dark")
        self.theme.addItem("Light", "light")
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.theme)))
        self.auto_trigger = QCheckBox("Insert a LoRA's trigger words into the prompt when it is added")
        self.auto_trigger.setChecked(settings.auto_trigger_words)

        self.slicing = QCheckBox("Attention slicing (less memory, a little slower)")
        self.slicing.setChecked(settings.attention_slicing)
        self.tiling = QCheckBox("VAE tiling (large images with little memory)")
        self.tiling.setChecked(settings.vae_tiling)
        self.offload = QCheckBox("Model CPU offload (GPUs with 4–6 GB; needs a CUDA GPU)")
        self.offload.setChecked(settings.cpu_offload)
        device = QLabel(f"Generating on: {device_label}")
        device.setObjectName("muted")
        device.setWordWrap(True)

        self.endpoint = QLineEdit(settings.hf_endpoint)
        self.endpoint.setPlaceholderText("https://huggingface.co (or $HF_ENDPOINT)")
        self.card_images = QCheckBox("Show images from model cards (loads them from the network)")
        self.card_images.setChecked(settings.allow_card_images)

        general = QGroupBox("General")
        gf = QFormLayout(general)
        gf.addRow("Theme", self.theme)
        gf.addRow(self.auto_trigger)
        memory = QGroupBox("GPU memory")
        mf = QVBoxLayout(memory)
        for w in (device, self.slicing, self.tiling, self.offload):
            mf.addWidget(w)
        hub = QGroupBox("Hugging Face")
        hf = QFormLayout(hub)
        hf.addRow("Endpoint", self.endpoint)
        hf.addRow(self.card_images)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        for w in (general, memory, hub):
            lay.addWidget(w)
        # ComfyUI servers are saved as they are added (backends.json + keyring), not on OK.
        self.backends = BackendsSection(data, device_label) if data is not None else None
        if self.backends is not None:
            lay.addWidget(self.backends)
        # The engine runtime is changed by its own buttons (install, verify, remove), not on OK.
        self.runtime_section = (RuntimeSection(runtime, store, stop_engine=stop_engine)
                                if runtime is not None and store is not None else None)
        if self.runtime_section is not None:
            lay.addWidget(self.runtime_section)
        lay.addWidget(buttons)

    def done(self, result: int) -> None:
        if self.backends is not None:
            self.backends.shutdown()
        if self.runtime_section is not None:
            self.runtime_section.shutdown()
        super().done(result)

    def changes(self) -> dict[str, Any]:
        """The fields this dialog edits, with the values shown (apply with SettingsStore.update)."""
        return dict(
            theme=self.theme.currentData(), auto_trigger_words=self.auto_trigger.isChecked(),
            attention_slicing=self.slicing.isChecked(), vae_tiling=self.tiling.isChecked(),
            cpu_offload=self.offload.isChecked(), hf_endpoint=self.endpoint.text().strip(),
            allow_card_images=self.card_images.isChecked())

    def result_settings(self) -> Settings:
        return self._settings.updated(**self.changes())
