"""``lorastudio scan`` and ``lorastudio info`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from model_files import kohya_sd15, kohya_sdxl, ss_metadata, write

from lorastudio.cli import main


def test_scan_json_and_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib = tmp_path / "lib"
    write(lib / "a.safetensors", kohya_sd15(), ss_metadata())
    write(lib / "b.safetensors", kohya_sdxl())
    (lib / "broken.safetensors").write_bytes(b"xx")
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "scan", "--json", "--hash", str(lib)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["a.safetensors"]["base"] == "sd1"
    assert by_name["a.safetensors"]["format"] == "kohya"
    assert by_name["a.safetensors"]["trigger_words"][0] == "mychar"
    assert len(by_name["a.safetensors"]["autov2"]) == 10
    assert len(by_name["a.safetensors"]["addnet_short"]) == 12
    assert by_name["b.safetensors"]["base"] == "sdxl"
    assert by_name["broken.safetensors"]["status"] == "error"
    assert main(["--data-dir", data, "scan", str(lib)]) == 0
    out = capsys.readouterr().out
    assert "lora/kohya" in out
    assert "3 entries (0 new" in out


def test_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "a.safetensors", kohya_sd15(), ss_metadata())
    assert main(["--data-dir", str(tmp_path / "d"), "info", str(path), "--json", "--hash"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["kind"], d["base"], d["rank"], d["alpha"]) == ("lora", "sd1", 4, 2.0)
    assert d["metadata"]["ss_network_module"] == "networks.lora"
    assert d["sha256"]
    assert main(["--data-dir", str(tmp_path / "d"), "info", str(path)]) == 0
    assert "trigger_words: mychar" in capsys.readouterr().out


def test_info_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(tmp_path / "d"), "info", str(tmp_path / "nope.safetensors")]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_info_on_pickle_never_unpickles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_detect import plant_pickle

    marker = tmp_path / "PWNED"
    evil = plant_pickle(tmp_path / "evil.pt", marker)
    assert main(["--data-dir", str(tmp_path / "d"), "info", str(evil), "--hash"]) == 0
    assert main(["--data-dir", str(tmp_path / "d"), "scan", str(tmp_path)]) == 0
    assert "pickle" in capsys.readouterr().out
    assert not marker.exists()
