"""``lorastudio generate --backend`` and ``lorastudio backends`` against the ComfyUI stand-in."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helpers"))
from fake_comfyui import FakeComfyUI

from lorastudio.cli import main
from lorastudio.core.metadata.infotext import parse_infotext
from lorastudio.core.paths import DataDir


@pytest.fixture(autouse=True)
def _no_system_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


@pytest.fixture
def server(tmp_path: Path, demo_pipeline: Path) -> Iterator[FakeComfyUI]:
    # The server holds the same files under its own names (a single-file checkpoint for our folder).
    fake = FakeComfyUI(tmp_path / "server-out", checkpoints=(f"sd15/{demo_pipeline.name}.safetensors",),
                       loras=("demo-ink-wash.safetensors", "styles/demo-neon-glow.safetensors"))
    yield fake
    fake.close()


def _args(home: Path, pipeline: Path, demo: DataDir, out: Path) -> list[str]:
    ink = demo.loras / "demo-ink-wash.safetensors"
    neon = demo.loras / "demo-neon-glow.safetensors"
    return ["--data-dir", str(home), "generate", "--model", str(pipeline), "--lora", f"{ink}:0.7",
            "--lora", f"{neon}:0.4:te=0.2", "--prompt", "a lighthouse", "--negative", "fog", "--seed", "5",
            "--steps", "2", "--width", "64", "--height", "64", "--sampler", "DPM++ 2M Karras",
            "--out", str(out)]


@pytest.mark.slow  # the local half runs the real engine on the demo model
def test_generate_on_a_backend_writes_the_same_infotext_as_a_local_run(
        server: FakeComfyUI, demo_data: DataDir, demo_pipeline: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    remote_png, local_png = tmp_path / "remote.png", tmp_path / "local.png"
    assert main([*_args(home, demo_pipeline, demo_data, remote_png), "--backend", server.url]) == 0
    assert capsys.readouterr().out.strip() == str(remote_png)
    assert main(_args(home, demo_pipeline, demo_data, local_png)) == 0
    capsys.readouterr()

    graph = server.prompts[0]["prompt"]
    loaders = [n["inputs"] for n in graph.values() if n["class_type"] == "LoraLoader"]
    assert [(x["lora_name"], x["strength_model"], x["strength_clip"]) for x in loaders] == [
        ("demo-ink-wash.safetensors", 0.7, 0.7), ("styles/demo-neon-glow.safetensors", 0.4, 0.2)]

    remote, local = Image.open(remote_png), Image.open(local_png)
    assert remote.size == local.size == (64, 64)
    r, l_ = parse_infotext(remote.text["parameters"]), parse_infotext(local.text["parameters"])
    assert r.prompt == l_.prompt
    assert r.negative_prompt == l_.negative_prompt
    assert r.params == l_.params  # Steps, Sampler, CFG, Seed, Size, Model hash, Lora hashes, weights...
    assert {"Lora hashes", "Lora weights", "Seed", "Sampler", "Model"} <= set(r.params)


def test_backends_add_list_test_remove(server: FakeComfyUI, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    home = ["--data-dir", str(tmp_path / "home")]
    monkeypatch.setattr("sys.stdin", io.StringIO("tok-123\n"))
    assert main([*home, "backends", "add", "gpu-box", server.url, "--token-stdin"]) == 0
    assert "tok-123" not in (tmp_path / "home" / "backends.json").read_text()
    capsys.readouterr()
    server.token = "tok-123"  # a proxy in front of the server wants it: the stored token is sent
    assert main([*home, "backends", "list"]) == 0
    out = capsys.readouterr().out
    assert "This computer" in out
    assert f"gpu-box\t{server.url}\tonline: ComfyUI 0.8.0 on cuda:0 NVIDIA Fake" in out
    assert main([*home, "backends", "test", "gpu-box"]) == 0
    assert "1 checkpoints, 2 LoRAs" in capsys.readouterr().out
    assert main([*home, "backends", "remove", "gpu-box"]) == 0
    assert main([*home, "backends", "test", "gpu-box"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: No backend is named 'gpu-box'")


def test_generate_on_an_offline_backend_is_one_line(demo_data: DataDir, demo_pipeline: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main([*_args(tmp_path / "home", demo_pipeline, demo_data, tmp_path / "x.png"),
                 "--backend", "http://127.0.0.1:9"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: The ComfyUI server at 127.0.0.1:9 did not answer")
    assert not (tmp_path / "x.png").exists()


def test_grid_on_a_backend_writes_the_grid(server: FakeComfyUI, demo_data: DataDir, demo_pipeline: Path,
                                           tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ink = demo_data.loras / "demo-ink-wash.safetensors"
    out = tmp_path / "grids"
    code = main(["--data-dir", str(tmp_path / "home"), "grid", "--model", str(demo_pipeline), "--prompt", "a cat",
                 "--lora", f"{ink}:0.5", "--x", "lora:demo-ink-wash:0,1", "--y", "seed:3,4", "--steps", "2",
                 "--width", "64", "--height", "64", "--out", str(out), "--backend", server.url])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "cell 4 of 4" in captured.err
    assert [Path(p).name for p in captured.out.split()] == ["grid-00001.png"]
    assert len(list((out / "grid-00001-cells").glob("*.png"))) == 4
    strengths = sorted(n["inputs"]["strength_model"] for p in server.prompts for n in p["prompt"].values()
                       if n["class_type"] == "LoraLoader")
    assert strengths == [0.0, 0.0, 1.0, 1.0]
    seeds = sorted(n["inputs"]["seed"] for p in server.prompts for n in p["prompt"].values()
                   if n["class_type"] == "KSampler")
    assert seeds == [3, 3, 4, 4]


def test_generate_on_two_backends_shares_the_batch(server: FakeComfyUI, demo_data: DataDir, demo_pipeline: Path,
                                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = FakeComfyUI(tmp_path / "other-out", checkpoints=server.checkpoints, loras=server.loras)
    try:
        out = tmp_path / "batch"
        out.mkdir()
        args = _args(tmp_path / "home", demo_pipeline, demo_data, out)
        code = main([*args, "--batch", "4", "--backend", f"{server.url},{other.url}"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert sorted(Path(p).name.split("-", 1)[1] for p in captured.out.split()) == [
            "5.png", "6.png", "7.png", "8.png"]
        assert len(server.executed) + len(other.executed) == 4
    finally:
        other.close()


def test_generate_with_files_only_the_server_has(server: FakeComfyUI, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.png"
    code = main(["--data-dir", str(tmp_path / "home"), "generate", "--model", "demo-tiny-sd15.safetensors",
                 "--lora", "demo-neon-glow.safetensors:0.6", "--prompt", "a fox", "--seed", "8", "--steps", "2",
                 "--width", "64", "--height", "64", "--out", str(out), "--backend", server.url])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    info = parse_infotext(Image.open(out).text["parameters"])
    assert info.params["Model"] == "demo-tiny-sd15"
    assert info.params["Lora weights"] == "demo-neon-glow: 0.6"
    assert "Model hash" not in info.params  # no local file to hash: nothing made up
    code = main(["--data-dir", str(tmp_path / "home"), "generate", "--model", "nowhere.safetensors",
                 "--prompt", "a fox", "--steps", "2", "--width", "64", "--height", "64", "--backend", server.url])
    assert code == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: The ComfyUI server at {server.url[7:]} lacks nowhere.safetensors; "
        "copy the files into its models folders or pick another backend.")
