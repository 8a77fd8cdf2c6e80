"""Files, folders and sidecars built to break the library: each one becomes a row with a status
(or is counted as skipped), and ``scan``, ``info`` and import go on, as a user would see it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from model_files import kohya_sd15, lokr, raw_safetensors, ss_metadata, write

from lorastudio.cli import main
from lorastudio.core.errors import BadModelFile
from lorastudio.core.library.catalog import Catalog
from lorastudio.core.library.importer import import_path
from lorastudio.core.library.scanner import MAX_DEPTH, scan
from lorastudio.core.metadata.detect import inspect_path
from lorastudio.core.paths import DataDir

DEEP = "[" * 1000 + "]" * 1000
DEEP_OBJ = '{"a":' * 1000 + "1" + "}" * 1000
GOOD_ENTRY = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}


def _lora(path: Path, **meta: str) -> Path:
    return write(path, kohya_sd15(), {**ss_metadata(), **meta})


def _lokr(path: Path, **meta: str) -> Path:  # no lora_down keys: rank comes from ss_network_dim
    return write(path, lokr(), {"ss_base_model_version": "sdxl_base_v1-0", **meta})


def _deep_header(path: Path) -> Path:
    blob = ('{"w": ' + json.dumps(GOOD_ENTRY) + ', "junk": ' + DEEP + "}").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(blob).to_bytes(8, "little") + blob + b"\0" * 4)
    return path


def _sidecar(name: str, text: str) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        _lora(path)
        (path.parent / name.format(stem=path.stem)).write_text(text, "utf-8")
        return path

    return make


# (maker, expected status, a check on the stored record)
CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "deep header": (_deep_header, "error"),
    "deep ss_tag_frequency": (lambda p: _lora(p, ss_tag_frequency=DEEP_OBJ), "ok"),
    "deep lora_adapter_metadata": (lambda p: _lora(p, ss_network_alpha="", lora_adapter_metadata=DEEP), "ok"),
    "deep civitai.info": (_sidecar("{stem}.civitai.info", DEEP_OBJ), "ok"),
    "deep name.json": (_sidecar("{stem}.json", DEEP), "ok"),
    "20-digit network dim": (lambda p: _lokr(p, ss_network_dim="1" * 25), "ok"),
    "superscript network dim": (lambda p: _lokr(p, ss_network_dim="²"), "ok"),
    "5000-digit network dim": (lambda p: _lokr(p, ss_network_dim="9" * 5000), "ok"),
    "Infinity tag count": (lambda p: _lora(p, ss_tag_frequency='{"d": {"a": Infinity, "b": 1e400}}'), "ok"),
    "400-digit alpha in name.json": (_sidecar("{stem}.json", '{"preferred weight": ' + "9" * 400 + "}"), "ok"),
    "zero-size tensor 10**19 long": (  # browsing reads no shape it does not need; import refuses it
        lambda p: raw_safetensors(p, {"w": {"dtype": "F32", "shape": [10**19, 0], "data_offsets": [0, 0]}}),
        "ok",
    ),
    "lone surrogate title": (
        lambda p: raw_safetensors(p, {"__metadata__": {"modelspec.title": "a\ud800b"}, "w": GOOD_ENTRY}, b"\0" * 4),
        "error",  # safetensors itself refuses this header: so do we, with a reason
    ),
    "lone surrogate trigger word": (_sidecar("{stem}.json", json.dumps({"activation text": "x\ud800y"})), "ok"),
    "escape codes in metadata": (lambda p: _lora(p, **{"modelspec.title": "\x1b[2Jtitle\nline"}), "ok"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_file_becomes_a_row_and_the_scan_goes_on(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, status = CASES[case]
    lib = tmp_path / "lib"
    _lora(lib / "good.safetensors")
    bad = make(lib / "bad.safetensors")
    data = str(tmp_path / "data")
    assert main(["--data-dir", data, "scan", "--json", str(lib)]) == 0
    rows = {Path(r["path"]).name: r for r in map(orjson.loads, capsys.readouterr().out.splitlines())}
    assert rows["good.safetensors"]["status"] == "ok"
    assert rows[bad.name]["status"] == status
    if status == "error":
        assert rows[bad.name]["error"].endswith(".")
    for value in map(str, rows[bad.name].values()):
        assert "\x1b" not in value
        assert "\ud800" not in value
    # info on the same file: one strict-JSON object, no traceback
    assert main(["--data-dir", data, "info", "--json", str(bad)]) == 0
    info = orjson.loads(capsys.readouterr().out)  # orjson refuses NaN, Infinity and lone surrogates
    assert info["status"] == status
    # text mode: one line per file, no raw terminal escapes
    assert main(["--data-dir", data, "scan", str(lib)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert len(out.splitlines()) == 3  # two files and the summary
    assert main(["--data-dir", data, "info", str(bad)]) == 0
    assert "\x1b" not in capsys.readouterr().out


def test_numbers_sqlite_cannot_hold_are_stored_as_unknown(tmp_path: Path, catalog: Catalog) -> None:
    from lorastudio.core.metadata.detect import FileInfo

    path = _lora(tmp_path / "a.safetensors")
    info = FileInfo(path=path, size=10**19, rank=10**19, alpha=float("inf"), preferred_weight=float("nan"),
                    tensor_count=10**20, title="t\ud800", trigger_words=("a\x1b[0m",))
    catalog.upsert_many([(info, tmp_path, 10**25)])
    record = catalog.get(path)
    assert record is not None
    assert (record.info.rank, record.info.alpha, record.info.preferred_weight) == (None, None, None)
    assert record.info.title == "t\ufffd"
    assert record.info.trigger_words == ("a[0m",)


def test_network_dim_is_clamped_not_raised(tmp_path: Path) -> None:
    assert inspect_path(_lokr(tmp_path / "a.safetensors", ss_network_dim="1" * 25)).rank is None
    assert inspect_path(_lokr(tmp_path / "b.safetensors", ss_network_dim="²")).rank is None
    assert inspect_path(_lokr(tmp_path / "c.safetensors", ss_network_dim="32")).rank == 32


def test_peft_adapter_with_400_digit_alpha_and_deep_configs(tmp_path: Path, catalog: Catalog) -> None:
    adapter = tmp_path / "lib" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 8, "lora_alpha": ' + "9" * 400 + "}")
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    text_model = tmp_path / "lib" / "llm"
    text_model.mkdir()
    (text_model / "config.json").write_text(DEEP_OBJ)
    pipe = tmp_path / "lib" / "pipe"
    (pipe / "unet").mkdir(parents=True)
    (pipe / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (pipe / "unet" / "config.json").write_text(DEEP)
    result = scan(catalog, [tmp_path / "lib"])
    assert result.seen == 2  # the deep config.json is no model folder: the folder is walked as usual
    records = {r.path.name: r for r in catalog.records()}
    # 10**400 is no number a JSON reader (or PEFT's alpha / r) can use: an error row, with the file named
    assert records["adapter"].info.status == "error"
    assert "adapter_config.json" in records["adapter"].info.error
    assert records["pipe"].info.status == "ok"


def test_control_characters_in_names_are_shown_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib = tmp_path / "lib"
    _lora(lib / "evil\x1b[31m\nname.safetensors")
    assert main(["--data-dir", str(tmp_path / "d"), "scan", str(lib)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "evil\\x1b[31m\\nname.safetensors" in out
    assert len(out.splitlines()) == 2


def test_info_json_never_prints_nan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # kohya alpha tensors holding NaN, and a sidecar weight of NaN (Python's json writes it)
    path = write(tmp_path / "a.safetensors", kohya_sd15(alpha=float("nan")), {})
    (tmp_path / "a.json").write_text('{"preferred weight": NaN}')
    assert main(["--data-dir", str(tmp_path / "d"), "info", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "NaN" not in out
    assert "Infinity" not in out
    assert orjson.loads(out)["alpha"] is None


# -- special files --------------------------------------------------------------------------------


def _run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """In a child process with a timeout: a hang fails the test instead of freezing the suite."""
    env = {**os.environ, "LORASTUDIO_BLOCK_QT": "1"}
    return subprocess.run(
        [sys.executable, "-m", "lorastudio", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_fifos_named_like_models_never_hang_scan_info_or_import(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    _lora(lib / "good.safetensors")
    os.mkfifo(lib / "pipe.safetensors")
    os.mkfifo(lib / "pipe.ckpt")
    os.mkfifo(lib / "pipe.json")  # a sidecar of pipe.safetensors
    folder = lib / "textmodel"
    folder.mkdir()
    os.mkfifo(folder / "config.json")
    data = str(tmp_path / "data")
    done = _run_cli("--data-dir", data, "scan", "--json", str(lib))
    assert done.returncode == 0, done.stderr
    rows = {Path(r["path"]).name: r for r in map(json.loads, done.stdout.splitlines())}
    assert rows["good.safetensors"]["status"] == "ok"
    for name in ("pipe.safetensors", "pipe.ckpt"):
        assert rows[name]["status"] == "error"
        assert "named pipe" in rows[name]["error"]
    done = _run_cli("--data-dir", data, "info", str(lib / "pipe.safetensors"))
    assert done.returncode == 0
    assert "named pipe" in done.stdout
    # import, with pickle conversion on: refused with a sentence, nothing unpickled, no hang
    code = (
        "import sys; from pathlib import Path; from lorastudio.core.paths import DataDir;"
        "from lorastudio.core.library.catalog import Catalog; from lorastudio.core.library.importer import import_path;"
        "from lorastudio.core.errors import BadModelFile\n"
        "d = DataDir(Path(sys.argv[1])).ensure()\n"
        "for src in sys.argv[2:]:\n"
        "    try: import_path(d, Catalog(d.catalog_db), Path(src), convert_pickles=True); print('installed')\n"
        "    except BadModelFile as e: print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, data, str(lib / "pipe.safetensors"), str(lib / "pipe.ckpt"), str(folder)],
        capture_output=True, text=True, timeout=60,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stderr
    assert "installed" not in lines
    assert "named pipe" in lines[0]
    assert "named pipe" in lines[1]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_model_folder_holding_a_fifo_is_not_installed(tmp_path: Path, data: DataDir, catalog: Catalog) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"r": 8, "lora_alpha": 8, "target_modules": ["c_attn"]}')
    shutil.copy(_lora(tmp_path / "w.safetensors"), adapter / "adapter_model.safetensors")
    os.mkfifo(adapter / "stream")
    with pytest.raises(BadModelFile, match="special file"):
        import_path(data, catalog, adapter)
    assert not any(data.text_adapters.iterdir())


# -- what the walk leaves out ---------------------------------------------------------------------


def test_skipped_entries_are_counted_and_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib = tmp_path / "lib"
    _lora(lib / "top.safetensors")
    deep = lib.joinpath(*[f"d{i}" for i in range(MAX_DEPTH + 2)])
    _lora(deep / "buried.safetensors")
    (lib / "loop").symlink_to(lib, target_is_directory=True)
    (lib / "self.safetensors").symlink_to(lib / "self.safetensors")
    with Catalog(tmp_path / "cat.db") as catalog:
        result = scan(catalog, [lib])
    assert result.skipped == {"too_deep": 1, "symlink_loop": 2}
    assert result.skipped_summary() == f"3 skipped — 2 symlink loops, 1 folder deeper than {MAX_DEPTH} levels"
    assert main(["--data-dir", str(tmp_path / "d"), "scan", str(lib)]) == 0
    assert "3 skipped — 2 symlink loops" in capsys.readouterr().out


# -- user data --------------------------------------------------------------------------------------


def _hash_all(catalog: Catalog) -> None:
    from lorastudio.core.library.scanner import hash_pending

    hash_pending(catalog)


def test_user_data_survives_touch_and_rename_before_rehashing(tmp_path: Path, catalog: Catalog) -> None:
    lib = tmp_path / "lib"
    a = _lora(lib / "a.safetensors")
    _lora(lib / "other.safetensors", **{"modelspec.title": "other"})
    scan(catalog, [lib])
    _hash_all(catalog)
    catalog.update_user_data(a, favorite=True, notes="keep me", tags=("x",))

    os.utime(a, ns=(1, 1))  # touched: new mtime, same bytes
    scan(catalog, [lib])
    record = catalog.get(a)
    assert record is not None
    assert record.sha256 is None
    assert record.user.favorite
    assert record.user.notes == "keep me"

    moved = lib / "sub" / "renamed.safetensors"
    moved.parent.mkdir()
    a.rename(moved)
    scan(catalog, [lib])
    record = catalog.get(moved)
    assert record is not None
    assert record.sha256 is None
    assert record.user.favorite
    assert record.user.tags == ("x",)
    assert not catalog.get(lib / "other.safetensors").user.favorite  # type: ignore[union-attr]
    _hash_all(catalog)
    assert catalog.get(moved).user.notes == "keep me"  # type: ignore[union-attr]


def test_user_data_of_an_unhashed_file_follows_a_rename(tmp_path: Path, catalog: Catalog) -> None:
    lib = tmp_path / "lib"
    a = _lora(lib / "a.safetensors")
    scan(catalog, [lib])
    catalog.update_user_data(a, favorite=True)
    b = lib / "b.safetensors"
    a.rename(b)
    scan(catalog, [lib])
    assert catalog.get(b).user.favorite  # type: ignore[union-attr]
    _hash_all(catalog)
    assert catalog.get(b).user.favorite  # type: ignore[union-attr]


def test_edited_bytes_keep_the_data_the_user_saw(tmp_path: Path, catalog: Catalog) -> None:
    lib = tmp_path / "lib"
    a = _lora(lib / "a.safetensors")
    scan(catalog, [lib])
    _hash_all(catalog)
    catalog.update_user_data(a, favorite=True)
    _lora(a, **{"modelspec.title": "retitled"})  # metadata edited: a new SHA-256
    scan(catalog, [lib])
    assert catalog.get(a).user.favorite  # type: ignore[union-attr]
    _hash_all(catalog)
    record = catalog.get(a)
    assert record is not None
    assert record.sha256 is not None
    assert record.user.favorite
