"""A tiny SD 1.x model and a folder of eight small captioned drawings, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorastudio.core.training.config import TrainConfig

COLORS = [(220, 40, 40), (40, 180, 60), (40, 70, 220), (230, 200, 30), (200, 60, 200), (30, 200, 200),
          (240, 140, 20), (120, 120, 120)]
# three buckets (64×64, 64×48, 32×32): every new shape costs the CPU a warm-up, so keep them few
SIZES = [(64, 64), (64, 48), (64, 64), (32, 32), (64, 48), (64, 64), (32, 32), (64, 64)]


def draw_dataset(folder: Path) -> Path:
    """Eight 32–64 px drawings (a disc on a plain ground) with kohya-style caption sidecars."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "more").mkdir(exist_ok=True)
    for i, (color, size) in enumerate(zip(COLORS, SIZES, strict=True)):
        image = Image.new("RGB", size, (250, 250, 245))
        draw = ImageDraw.Draw(image)
        w, h = size
        draw.ellipse((w * 0.2, h * 0.2, w * 0.8, h * 0.8), fill=color)
        sub = folder / "more" if i >= 6 else folder
        suffix = (".png", ".jpg", ".webp")[i % 3]
        path = sub / f"disc{i}{suffix}"
        image.save(path)
        colour = ("red", "green", "blue", "yellow", "purple", "cyan", "orange", "grey")[i]
        path.with_suffix(".txt").write_text(f"zq disc, {colour}, plain ground\n", "utf-8")
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lorastudio.core.engine.demo import build_tiny_sd

    root = tmp_path_factory.mktemp("tiny-sd")
    pipe = build_tiny_sd(root / "tok")
    pipe.save_pretrained(str(root / "model"), safe_serialization=True)
    return root / "model"


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    return draw_dataset(tmp_path / "pictures")


def tiny_config(model: Path, data: Path, out: Path, **changes: object) -> TrainConfig:
    from dataclasses import replace

    config = TrainConfig(base_model=str(model), dataset=str(data), output_dir=str(out), output_name="disc",
                         network="locon", rank=4, alpha=4.0, learning_rate=1e-2, epochs=6, batch_size=2, repeats=1,
                         resolution=64,
                         sample_prompts=("zq disc",), sample_steps=2, device="cpu", seed=1)
    return replace(config, **changes).validate()  # type: ignore[arg-type]
