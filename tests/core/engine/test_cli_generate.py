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


BAD_ARGS = {
    "seed above 2**64-1": (["--seed", str(2**64)], "seed"),
    "seed -2": (["--seed", "-2"], "seed"),
    "steps 0": (["--steps", "0"], "Steps"),
    "steps 100000000": (["--steps", "100000000"], "Steps"),
    "width 100000": (["--width", "100000"], "Width"),
    "width not a multiple of 8": (["--width", "100"], "multiple of 8"),
    "too many pixels": (["--width", "4096", "--height", "4096"], "megapixels"),
    "batch -3": (["--batch", "-3"], "batch"),
    "cfg nan": (["--cfg", "nan"], "CFG"),
    "cfg inf": (["--cfg", "inf"], "CFG"),
    "clip skip 100": (["--clip-skip", "100"], "Clip skip"),
    "lora weight nan": (["--lora", "{lora}:nan"], "weight"),
    "lora weight 1e308": (["--lora", "{lora}:1e308"], "weight"),
    "out not a png": (["--out", "{tmp}/x.jpg"], ".png"),
    "out in a missing folder": (["--out", "{tmp}/nonexistent/dir/x.png"], "does not exist"),
    "out in /proc": (["--out", "/proc/x.png"], "not writable"),
}


@pytest.mark.parametrize("case", list(BAD_ARGS))
def test_out_of_range_arguments_exit_1_with_one_sentence_before_any_work(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import lorastudio.core.engine.engine as engine_module

    def no_engine(*args: object, **kwargs: object) -> None:
        raise AssertionError("the engine was started for a request that should have been refused")

    monkeypatch.setattr(engine_module, "DiffusersEngine", no_engine)
    extra, words = BAD_ARGS[case]
    lora = tmp_path / "l.safetensors"
    lora.write_bytes(b"")
    extra = [a.format(lora=lora, tmp=tmp_path) for a in extra]
    model = tmp_path / "model"
    model.mkdir()
    code = main(["--data-dir", str(tmp_path / "home"), "generate", "--model", str(model), "--prompt", "x", *extra])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: ")
    assert words in err[0]
    assert not (tmp_path / "nonexistent").exists()  # no folder created on the way
    assert not list(tmp_path.glob("*.png"))


def test_unparsable_numbers_exit_1_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--model", str(tmp_path), "--prompt", "x", "--steps", "many"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--steps" in err[0]


def test_seed_minus_one_means_random(demo_pipeline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "images"
    out_dir.mkdir()  # --out an existing folder: the image goes inside it, with its usual name
    code = main(["--data-dir", str(tmp_path / "home"), "generate", "--model", str(demo_pipeline), "--prompt", "x",
                 "--seed", "-1", "--steps", "2", "--width", "64", "--height", "64", "--out", str(out_dir)])
    assert code == 0
    written = Path(capsys.readouterr().out.strip())
    assert written.parent == out_dir
    assert written.suffix == ".png"
    assert "Seed: -1" not in Image.open(written).text["parameters"]
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".png"] == []  # no stray PNG next to it


def test_clip_skip_beyond_the_models_text_encoder_is_one_sentence(
        demo_pipeline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The demo's CLIP has 2 layers: clip skip 5 passes the generic check (≤ 12) but not the model's.
    out = tmp_path / "x.png"
    code = main(["--data-dir", str(tmp_path / "home"), "generate", "--model", str(demo_pipeline),
                 "--prompt", "a lighthouse", "--seed", "1", "--steps", "2", "--width", "64", "--height", "64",
                 "--clip-skip", "5", "--out", str(out)])
    assert code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(errors) == 1, errors
    assert "Clip skip" in errors[0]
    assert not out.exists()
