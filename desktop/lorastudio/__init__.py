"""LoRA Studio: install, browse and mix LoRA adapters; generate locally."""

__version__ = "0.1.0"
