"""Qt-free core of LoRA Studio. Nothing here imports PySide6 (checked by import-linter)."""
