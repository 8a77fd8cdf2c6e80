"""Fixtures: a tiny offline GPT-2 and two small LoRA adapters of different ranks (built once)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lorastudio.core.text.demo import DEMO_TEXTS, build_demo_model
from lorastudio.core.text.train import TrainConfig, train_adapter

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_model(tmp_path_factory.mktemp("lm") / "tiny-gpt2", n_embd=32, n_positions=128,
                            pretrain_steps=0)


def _adapter(root: Path, model: Path, name: str, rank: int) -> Path:
    data = root / f"{name}.txt"
    data.write_text(DEMO_TEXTS[f"tiny-{name}"] * 3, "utf-8")
    config = TrainConfig(rank=rank, alpha=2 * rank, dropout=0.0, lr=2e-2, epochs=5, batch_size=4,
                         max_length=32, max_steps=6)
    result = train_adapter(model, data, root / name, config)
    assert result.adapter_dir is not None
    return result.adapter_dir


@pytest.fixture(scope="session")
def tiny_adapters(tmp_path_factory: pytest.TempPathFactory, tiny_lm: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return _adapter(root, tiny_lm, "cats", 4), _adapter(root, tiny_lm, "dogs", 8)


@pytest.fixture(scope="session")
def other_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GPT-2 of another width: adapters of ``tiny_lm`` do not fit it."""
    return build_demo_model(tmp_path_factory.mktemp("lm2") / "other-gpt2", n_embd=48, n_positions=128,
                            pretrain_steps=0)
