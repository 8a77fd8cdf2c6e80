"""X/Y/Z grids on the tiny demo model: axes, cells equal to single generations, the grid PNG, cancel, CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lorastudio.cli import main
from lorastudio.core.cancel import CancelToken
from lorastudio.core.engine.engine import DiffusersEngine
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.grid.axes import AxisKind, GridAxisError, GridSpec, parse_axis, parse_spec
from lorastudio.core.grid.cells import cells
from lorastudio.core.grid.files import SETUP_KEY, read_grid_setup, write_grid
from lorastudio.core.grid.image import compose_grid
from lorastudio.core.grid.run import progress_text, run_cells
from lorastudio.core.metadata.infotext import read_png_text
from lorastudio.core.paths import DataDir

INK = "demo-ink-wash"
WEIGHTS = (0.0, 0.5, 1.0)
SEEDS = (3, 4)


def _base(model: Path, ink: Path, **kw: object) -> GenerationRequest:
    args: dict[str, object] = dict(model=model, prompt="a lighthouse at dusk", negative_prompt="blurry",
                                   loras=(LoraSpec(ink, 0.7),), seed=1, steps=2, cfg=6.0, width=64, height=64)
    args.update(kw)
    return GenerationRequest(**args)  # type: ignore[arg-type]


# -- axes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "kind", "values"), [
    ("lora:ink:0,0.25,0.5,0.75,1", AxisKind.LORA_WEIGHT, (0.0, 0.25, 0.5, 0.75, 1.0)),
    ("lora:ink:0:1:5", AxisKind.LORA_WEIGHT, (0.0, 0.25, 0.5, 0.75, 1.0)),
    ("lora:ink:-1:1:3", AxisKind.LORA_WEIGHT, (-1.0, 0.0, 1.0)),
    ("on:ink", AxisKind.LORA_ON, (False, True)),
    ("on:ink:on,off", AxisKind.LORA_ON, (True, False)),
    ("seed:1, 2, 3", AxisKind.SEED, (1, 2, 3)),
    ("seed:10:13:4", AxisKind.SEED, (10, 11, 12, 13)),
    ("steps:10:30:3", AxisKind.STEPS, (10, 20, 30)),
    ("cfg:4,7.5", AxisKind.CFG, (4.0, 7.5)),
    ("Sampler:euler,ddim", AxisKind.SAMPLER, ("Euler", "DDIM")),
    ('prompt:cat,dog,"fox, red"', AxisKind.PROMPT, ("cat", "dog", "fox, red")),
])
def test_axis_texts_parse_to_typed_values(text: str, kind: AxisKind, values: tuple[object, ...]) -> None:
    axis = parse_axis(text)
    assert axis.kind is kind
    assert axis.values == values
    assert parse_axis(axis.to_text()) == axis  # the written form reads back the same


def test_block_axis_takes_presets_and_quoted_vectors() -> None:
    axis = parse_axis('blocks:ink:ALL,OUTD,"1,0,0,0,0,0,0,0,0,0,0,0,1,1,1,1,1"')
    assert [axis.value_text(i) for i in range(3)] == ["ALL", "OUTD", "OUTS"]
    assert len(axis.values[2]) == 17  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "words"), [
    ("colour:1,2", "is not an axis"),
    ("lora:ink", "has no values"),
    ("lora::1", "names its LoRA"),
    ("lora:ink:1,,2", "empty entry"),
    ("lora:ink:0,11", "from -10 to 10"),
    ("lora:ink:nan", "from -10 to 10"),
    ("lora:ink:0:1:0", "START:STOP:COUNT"),
    ("lora:ink:0:1:100", "START:STOP:COUNT"),
    ("seed:abc", "seed"),
    ("seed:-2", "seed"),
    ("steps:0", "Steps"),
    ("steps:1:100000:3", "Steps"),
    ("cfg:inf", "CFG"),
    ("sampler:Magic", "Unknown sampler"),
    ("prompt:cat", "Prompt S/R needs"),
    ("blocks:ink:1,0,0", "quote each vector"),
    ('blocks:ink:"1,2"', "17 values"),
    ('lora:ink:"1', "unclosed quote"),
    ("seed:" + ",".join(str(i) for i in range(65)), "at most 64"),
])
def test_bad_axes_fail_with_one_sentence(text: str, words: str) -> None:
    with pytest.raises(GridAxisError) as err:
        parse_axis(text)
    message = str(err.value)
    assert words in message
    assert "\n" not in message
    assert len(message) < 240


def test_a_grid_refuses_two_axes_on_one_thing_and_too_many_cells() -> None:
    with pytest.raises(GridAxisError, match="same thing"):
        parse_spec("seed:1,2", "seed:3,4")
    with pytest.raises(GridAxisError, match="at most 1024"):
        parse_spec("seed:1:64:64", "steps:1:20:20")


def test_cells_apply_every_axis_and_keep_checkpoints_together(tmp_path: Path) -> None:
    ink, model_a, model_b = tmp_path / "ink.safetensors", tmp_path / "a", tmp_path / "b"
    ink.write_bytes(b"x")
    model_a.mkdir()
    model_b.mkdir()
    base = _base(model_a, ink, prompt="a cat on a mat")
    spec = parse_spec("prompt:cat,dog", f"checkpoint:{model_a},{model_b}", "lora:ink:0,1")
    made = cells(spec, base)
    assert len(made) == 8
    models = [c.request.model for c in made]
    assert models == [model_a.resolve()] * 4 + [model_b.resolve()] * 4  # one switch, not four
    by_key = {c.key: c.request for c in made}
    assert by_key[(1, 1, 1)].prompt == "a dog on a mat"
    assert by_key[(1, 1, 1)].loras[0].weight == 1.0
    assert by_key[(0, 0, 0)].loras[0].weight == 0.0
    with pytest.raises(GridAxisError, match="not in the prompt"):
        cells(parse_spec("prompt:horse,dog"), base)
    with pytest.raises(GridAxisError, match="not in the mix"):
        cells(parse_spec("lora:neon:0,1"), base)


# -- running on the real engine --------------------------------------------------------------------

@pytest.fixture(scope="module")
def grid_run(demo_data: DataDir) -> tuple[GridSpec, list, DiffusersEngine]:  # type: ignore[type-arg]
    from lorastudio.core.engine.demo import DEMO_PIPELINE

    demo_pipeline = demo_data.checkpoints / DEMO_PIPELINE
    ink = demo_data.loras / f"{INK}.safetensors"
    spec = parse_spec(f"lora:{INK}:{','.join(f'{w:g}' for w in WEIGHTS)}", f"seed:{','.join(map(str, SEEDS))}")
    engine = DiffusersEngine(device="cpu")
    progress: list[str] = []
    run = run_cells(engine, cells(spec, _base(demo_pipeline, ink)),
                    on_cell=lambda r, done, total: progress.append(progress_text(done, total)))
    assert progress == [f"cell {i} of 6" for i in range(1, 7)]
    assert not run.cancelled
    return spec, run.results, engine


def test_grid_cells_equal_single_generations_with_one_load_each(
        grid_run: tuple[GridSpec, list, DiffusersEngine], demo_data: DataDir, demo_pipeline: Path) -> None:  # type: ignore[type-arg]
    _spec, results, engine = grid_run
    assert engine.stats.pipeline_loads == 1
    assert engine.stats.lora_loads == 1
    single = DiffusersEngine(device="cpu")
    ink = demo_data.loras / f"{INK}.safetensors"
    for result in results:
        x, y, _ = result.cell.key
        alone = single.generate(_base(demo_pipeline, ink, loras=(LoraSpec(ink, WEIGHTS[x]),), seed=SEEDS[y]))[0]
        assert result.seed == SEEDS[y]
        assert np.array_equal(np.asarray(result.image), np.asarray(alone.image)), result.cell.key


def test_grid_png_has_labelled_cells_and_restores_its_axes(
        grid_run: tuple[GridSpec, list, DiffusersEngine], tmp_path: Path) -> None:  # type: ignore[type-arg]
    spec, results, _ = grid_run
    files = write_grid(spec, results, tmp_path)
    assert len(files.grids) == 1
    assert files.grids[0].name == "grid-00001.png"
    layout = files.layouts[0]
    grid = np.asarray(Image.open(files.grids[0]).convert("RGB"))
    assert (grid.shape[1], grid.shape[0]) == layout.size
    assert (layout.columns, layout.rows) == (3, 2)
    for result in results:
        x0, y0, x1, y1 = layout.cell_box(result.cell.x, result.cell.y)
        assert np.array_equal(grid[y0:y1, x0:x1], np.asarray(result.image)), result.cell.key
    # Every column and row has its label drawn: dark pixels in the band above / left of it.
    for x in range(3):
        x0, y0, x1, _ = layout.cell_box(x, 0)
        assert (grid[:y0, x0:x1] < 100).any(), f"column {x} unlabelled"
    for y in range(2):
        x0, y0, _, y1 = layout.cell_box(0, y)
        assert (grid[y0:y1, :x0] < 100).any(), f"row {y} unlabelled"
    # The text chunk brings the axes back (LoRAs by name), and the A1111 parameters ride along.
    assert read_grid_setup(files.grids[0]) == spec
    text = read_png_text(files.grids[0]).text
    assert "Seed: 3" in text["parameters"]
    assert len(files.cells) == 6
    for key, path in files.cells.items():
        params = Image.open(path).text["parameters"]
        assert f"Seed: {SEEDS[key[1]]}" in params
        assert f"<lora:{INK}:{WEIGHTS[key[0]]:g}>" in params


def test_long_labels_wrap_inside_their_column() -> None:
    spec = parse_spec("prompt:a,an extraordinarily long replacement text that cannot fit on one line")
    image, layout = compose_grid(spec, {(0, 0): Image.new("RGB", (64, 64)), (1, 0): Image.new("RGB", (64, 64))})
    assert image.size == layout.size
    assert layout.top > 60  # several lines, not one line running across the neighbour


def test_cancel_in_the_middle_keeps_the_finished_cells(demo_data: DataDir, demo_pipeline: Path,
                                                      tmp_path: Path) -> None:
    ink = demo_data.loras / f"{INK}.safetensors"
    spec = parse_spec(f"lora:{INK}:0,0.5,1", "seed:1,2")
    cancel = CancelToken()

    def on_step(number: int, total: int, step: int, steps: int) -> None:
        if number == 3 and step == 1:
            cancel.cancel()  # during the third cell: it stops at its next step

    run = run_cells(DiffusersEngine(device="cpu"), cells(spec, _base(demo_pipeline, ink)), cancel=cancel,
                    on_step=on_step)
    assert run.cancelled
    assert [r.cell.key for r in run.results] == [(0, 0, 0), (1, 0, 0)]
    files = write_grid(spec, run.results, tmp_path)
    assert len(files.cells) == 2
    assert len(files.grids) == 1
    grid = np.asarray(Image.open(files.grids[0]).convert("RGB"))
    x0, y0, x1, y1 = files.layouts[0].cell_box(2, 1)
    assert (grid[y0:y1, x0:x1] == 200).all()  # not made: a grey cell


@pytest.mark.parametrize("chunk", [
    "not json", "[]", '{"version": 99}', '{"version": 1}', '{"version": 1, "x": {"kind": "seed", "values": [1]}}',
    '{"version": 1, "x": {"kind": "seed", "values": ["nan"]}}',
    '{"version": 1, "x": {"kind": "lora", "target": "a", "values": ["1e400"]}}',
    '{"version": 1, "x": ' + "[" * 50 + "]" * 50 + "}",
    json.dumps({"version": 1, "x": {"kind": "seed", "values": ["1"] * 100_000}}),
])
def test_damaged_grid_setup_reads_as_none(chunk: str, tmp_path: Path) -> None:
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    meta.add_text(SETUP_KEY, chunk)
    path = tmp_path / "g.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=meta)
    assert read_grid_setup(path) is None


def test_non_grid_files_read_as_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    (tmp_path / "text.png").write_text("hello")
    assert read_grid_setup(plain) is None
    assert read_grid_setup(tmp_path / "text.png") is None
    assert read_grid_setup(tmp_path / "missing.png") is None
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.png")
        assert read_grid_setup(tmp_path / "fifo.png") is None


# -- the CLI ---------------------------------------------------------------------------------------

def test_cli_grid_with_a_z_axis_writes_one_grid_per_value(demo_data: DataDir, demo_pipeline: Path,
                                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ink = demo_data.loras / f"{INK}.safetensors"
    out = tmp_path / "grids"
    code = main(["--data-dir", str(tmp_path / "home"), "grid", "--model", str(demo_pipeline), "--prompt", "a cat",
                 "--lora", f"{ink}:0.5", "--x", f"lora:{INK}:0,1", "--z", "cfg:5,7", "--seed", "9",
                 "--steps", "2", "--width", "64", "--height", "64", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    printed = captured.out.split()
    assert [Path(p).name for p in printed] == ["grid-00001-z1.png", "grid-00001-z2.png"]
    assert "cell 4 of 4" in captured.err
    for z, path in enumerate(printed):
        spec = read_grid_setup(Path(path))
        assert spec is not None
        assert spec.z is not None
        assert spec.z.values == (5.0, 7.0)
        assert f"CFG scale: {(5, 7)[z]}" in read_png_text(Path(path)).text["parameters"]
    assert len(list((out / "grid-00001-cells").glob("*.png"))) == 4


@pytest.mark.parametrize(("axis", "words"), [
    ("lora:neon:0,1", "not in the mix"),
    ("lora:ink:0:1", "must be a number"),
    ("speed:1,2", "is not an axis"),
    ("prompt:horse,dog", "not in the prompt"),
])
def test_cli_bad_axis_exits_1_with_one_sentence(axis: str, words: str, demo_data: DataDir, demo_pipeline: Path,
                                               tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ink = demo_data.loras / f"{INK}.safetensors"
    code = main(["--data-dir", str(tmp_path / "home"), "grid", "--model", str(demo_pipeline), "--prompt", "a cat",
                 "--lora", str(ink), "--x", axis, "--steps", "2", "--width", "64", "--height", "64",
                 "--out", str(tmp_path / "g")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1
    assert err[0].startswith("error: ")
    assert words in err[0]
    assert not (tmp_path / "g").exists()  # refused before anything was written


def test_cli_grid_help_shows_the_axis_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["grid", "--help"])
    out = capsys.readouterr().out
    assert "lora:NAME:0,0.5,1" in out
    assert "START:STOP:COUNT" in out
    assert "examples:" in out
