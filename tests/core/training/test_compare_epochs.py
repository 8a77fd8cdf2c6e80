"""Compare epochs: a training run's files on disk, and the grid of epoch file × LoRA weight."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.grid.axes import AxisKind, GridAxisError, files_by_weight, parse_axis, spec_from_dict, spec_to_dict
from lorastudio.core.grid.cells import cells
from lorastudio.core.training.config import TrainConfig
from lorastudio.core.training.trainer import saved_epochs


@pytest.fixture
def run(tmp_path: Path) -> TrainConfig:
    out = tmp_path / "loras"
    out.mkdir()
    for name in ("disc-000002", "disc-000001", "disc", "disc-old", "other-000001", "disc-0001"):
        (out / f"{name}.safetensors").write_bytes(b"x")
    return TrainConfig(base_model=str(tmp_path / "model"), dataset=str(tmp_path / "pics"), output_dir=str(out),
                       output_name="disc")


def test_saved_epochs_are_the_runs_files_oldest_first(run: TrainConfig) -> None:
    assert [p.name for p in saved_epochs(run)] == ["disc-000001.safetensors", "disc-000002.safetensors",
                                                  "disc.safetensors"]
    (Path(run.output_dir) / "disc.safetensors").unlink()  # a cancelled run has no final file yet
    assert [p.name for p in saved_epochs(run)] == ["disc-000001.safetensors", "disc-000002.safetensors"]


def test_compare_grid_is_epoch_files_by_weight(run: TrainConfig, tmp_path: Path) -> None:
    files = saved_epochs(run)
    spec = files_by_weight(files)
    assert spec.x.kind is AxisKind.LORA_FILE
    assert spec.x.values == ("disc-000001", "disc-000002", "disc")
    assert [spec.x.label(i) for i in range(3)] == ["disc file: disc-000001", "disc file: disc-000002",
                                                   "disc file: disc"]
    assert spec.y is not None
    assert spec.y.kind is AxisKind.LORA_WEIGHT
    assert spec.y.values == (0.5, 0.75, 1.0)
    assert parse_axis(spec.x.to_text()) == spec.x  # what the Grid dialog shows reads back the same
    assert spec_from_dict(spec_to_dict(spec)).x.values == spec.x.values

    other = tmp_path / "elsewhere.safetensors"
    other.write_bytes(b"x")
    base = GenerationRequest(model=tmp_path / "model", prompt="zq disc", seed=7, steps=2, width=64, height=64,
                             loras=(LoraSpec(tmp_path / "unrelated.safetensors", 0.3, name="kept"),))
    grid = cells(files_by_weight([*files, other]), base)
    assert len(grid) == 12
    by_key = {c.key: c.request for c in grid}
    cell = by_key[(1, 0, 0)]
    assert cell.loras[0].name == "kept"  # the rest of the mix is untouched
    assert cell.loras[1].path == files[1].resolve()
    assert cell.loras[1].weight == 0.5
    assert by_key[(3, 2, 0)].loras[1].path == other.resolve()
    assert by_key[(3, 2, 0)].loras[1].weight == 1.0
    assert {c.request.seed for c in grid} == {7}


def test_a_missing_epoch_file_is_one_sentence(run: TrainConfig) -> None:
    files = saved_epochs(run)
    spec = files_by_weight(files)
    files[0].unlink()
    base = GenerationRequest(model=Path("m"), prompt="p", width=64, height=64)
    with pytest.raises(GridAxisError, match=r"^LoRA file not found: disc-000001$"):
        cells(spec, base)
    with pytest.raises(GridAxisError, match="no LoRA files"):
        files_by_weight([])
