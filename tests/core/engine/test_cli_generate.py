"""``lorastudio generate`` and ``lorastudio demo`` as a user runs them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from lorastudio.cli import main
from lorastudio.core.paths import DataDir


def test_generate_writes_the_png_and_prints_its_path(demo_data: DataDir, demo_pipeline: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "result.png"
    ink = demo_data.loras / "demo-ink-wash.safetensors"
    code = main(["--data-dir", str(tmp_path / "home"), "generate", "--model", str(demo_pipeline),
                 "--lora", f"{ink}:0.7", "--prompt", "a lighthouse", "--seed", "5", "--steps", "2",
                 "--width", "64", "--height", "64", "--out", str(out)])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out)
    image = Image.open(out)
    assert image.size == (64, 64)
    assert "Seed: 5" in image.text["parameters"]
    assert "<lora:demo-ink-wash:0.7>" in image.text["parameters"]  # A1111 names LoRAs by file


@pytest.mark.parametrize("what", ["model folder", "model missing", "lora not a lora", "lora missing"])
def test_bad_inputs_exit_non_zero_with_one_sentence(what: str, demo_data: DataDir, demo_pipeline: Path,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, lora = demo_pipeline, None
    if what == "model folder":
        model = tmp_path / "just-a-folder"
        model.mkdir()
    elif what == "model missing":
        model = tmp_path / "nope"
    elif what == "lora not a lora":
        lora = tmp_path / "vae.safetensors"
        shutil.copy(demo_pipeline / "vae" / "diffusion_pytorch_model.safetensors", lora)
    else:
        lora = tmp_path / "gone.safetensors"
    args = ["--data-dir", str(tmp_path / "home"), "generate", "--model", str(model), "--prompt", "x",
            "--steps", "1", "--width", "64", "--height", "64"]
    if lora is not None:
        args += ["--lora", str(lora)]
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ")
    assert "Traceback" not in "\n".join(err)


def test_demo_builds_the_library_into_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lorastudio.core.engine import demo

    # Reuse the session's build to stay fast: the command must report what it made.
    assert main(["demo", str(tmp_path / "lib")]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[0].endswith(demo.DEMO_PIPELINE)
    assert all(Path(p).exists() for p in printed)
