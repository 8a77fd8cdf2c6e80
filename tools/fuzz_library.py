"""Mutation fuzzer for the model library: hostile safetensors files, sidecars and model folders.

    python tools/fuzz_library.py --count 10000 --seed 1            # generate, then scan/info/import
    python tools/fuzz_library.py --count 500 --out /tmp/corpus --keep

``generate_corpus`` writes ``count`` mutated entries (deterministic for a seed) from a few real,
tiny LoRA/checkpoint files: byte flips and truncation, a lying header length, JSON-level
substitutions (deep nesting, huge or non-finite numbers, lone surrogates, control characters,
impossible shapes and offsets), hostile ``__metadata__`` values (``ss_network_dim``,
``ss_tag_frequency``, ``lora_adapter_metadata``, ``modelspec.*``), hostile sidecars, model folders
with hostile configs, and named pipes. ``check_entry`` runs what a user runs on one entry (inspect
as ``info`` does, import) and reports anything that is not a status or a one-sentence refusal.
The test suite runs a few hundred (tests/core/library/test_fuzz.py); grow the corpus here.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import struct
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HOSTILE_VALUES: list[Any] = [
    None, True, -1, 0, 2**63, 2**64, 10**19, -(2**63) - 1, 1e308, -0.0, 0.5, "", "x" * 5000, "\x1b[2J\n\r\x00",
    [], {}, [1, 2, 3], [-1], [10**19, 0], [0, 10**19], ["a", "b"], [[[[1]]]], {"a": {"b": {"c": 1}}},
]
RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "1e400", "9" * 400, "9" * 5000, '"\\ud800"', '"\\udc80x\\ud83d"',
              "[" * 1200 + "]" * 1200, '{"a":' * 1100 + "1" + "}" * 1100, "[" * 100 + "]" * 100]
META_KEYS = ["ss_network_dim", "ss_network_alpha", "ss_tag_frequency", "lora_adapter_metadata",
             "modelspec.title", "modelspec.description", "modelspec.trigger_phrase", "modelspec.architecture",
             "ss_base_model_version", "sshs_model_hash", "ssmd_cover_images"]
META_VALUES = ["1" * 25, "²", "9" * 5000, "-3", "NaN", "inf", "1e400", "", "\ud800", "\x1b]0;pwned\x07title\n",
               '{"d": {"a": Infinity}}', '{"d": {"a": ' + "9" * 400 + "}}", '{"d": {"a": "x", "b": [1]}}',
               '{"a":' * 2000 + "1" + "}" * 2000, "[" * 3000 + "]" * 3000, '{"unet.lora_alpha": ' + "9" * 400 + "}",
               '{"transformer.lora_alpha": NaN}', "sd_v1", "sdxl_base_v1-0", "flux", "x" * 100_000]
SIDECARS = [".json", ".civitai.info", ".txt", ".preview.png", ".safetensors.hf.json"]


def _tensor_header(keys: list[tuple[str, list[int]]]) -> tuple[dict[str, Any], bytes]:
    header: dict[str, Any] = {}
    pos = 0
    for name, shape in keys:
        n = 2
        for d in shape:
            n *= d
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [pos, pos + n]}
        pos += n
    return header, b"\0" * pos


def seed_headers() -> list[tuple[dict[str, Any], bytes]]:
    """A few realistic tiny files: a kohya SD1 LoRA, a PEFT SDXL LoRA, a LoHa, a checkpoint, a VAE."""
    kohya = []
    for block in ("down_blocks_0_attentions_0", "mid_block_attentions_0", "up_blocks_1_attentions_0"):
        name = f"lora_unet_{block}_transformer_blocks_0_attn2_to_k"
        kohya += [(f"{name}.lora_down.weight", [4, 768]), (f"{name}.lora_up.weight", [2, 4]), (f"{name}.alpha", [])]
    kohya.append(("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", [4, 768]))
    peft = [(f"unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.lora_{p}.weight", s)
            for p, s in (("A", [8, 2048]), ("B", [2, 8]))]
    loha = [("lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.hada_w1_a", [4, 8]),
            ("lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.hada_w1_b", [8, 768])]
    ckpt = [("model.diffusion_model.input_blocks.0.0.weight", [4, 4, 1, 1]),
            ("model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight", [2, 768])]
    vae = [("encoder.conv_in.weight", [2, 3, 1, 1]), ("decoder.conv_in.weight", [2, 4, 1, 1]),
           ("quant_conv.weight", [2, 2, 1, 1])]
    out = []
    for keys in (kohya, peft, loha, ckpt, vae):
        header, data = _tensor_header(keys)
        header["__metadata__"] = {"ss_network_dim": "4", "ss_network_alpha": "2",
                                  "ss_tag_frequency": json.dumps({"ds": {"tag": 3, "other": 1}}),
                                  "modelspec.title": "seed"}
        out.append((header, data))
    return out


def _pack(header_json: bytes, data: bytes, claimed: int | None = None) -> bytes:
    n = len(header_json) if claimed is None else claimed
    return struct.pack("<Q", n) + header_json + data


def _replace_somewhere(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """``value`` with one nested value swapped for a hostile one."""
    if isinstance(value, dict) and value and depth < 4 and rng.random() < 0.7:
        key = rng.choice(list(value))
        return {**value, key: _replace_somewhere(rng, value[key], depth + 1)}
    if isinstance(value, list) and value and depth < 4 and rng.random() < 0.6:
        i = rng.randrange(len(value))
        return [*value[:i], _replace_somewhere(rng, value[i], depth + 1), *value[i + 1:]]
    return rng.choice(HOSTILE_VALUES)


def _with_raw_token(rng: random.Random, header: dict[str, Any]) -> bytes:
    """The header as JSON with one value replaced by a raw token json.dumps cannot write."""
    marker = "@@FUZZ@@"
    mutated = _replace_somewhere(rng, header)
    text = json.dumps(_mark(rng, mutated, marker))
    return text.replace(f'"{marker}"', rng.choice(RAW_TOKENS), 1).encode("utf-8", "surrogatepass")


def _mark(rng: random.Random, value: Any, marker: str) -> Any:
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        return {**value, key: marker if rng.random() < 0.5 else _mark(rng, value[key], marker)}
    if isinstance(value, list) and value:
        return [marker, *value[1:]]
    return marker


def mutate_file(rng: random.Random, header: dict[str, Any], data: bytes) -> bytes:
    """One hostile safetensors file made from a good ``header`` and ``data``."""
    kind = rng.randrange(8)
    good = json.dumps(header).encode()
    if kind == 0:  # byte flips in the header
        blob = bytearray(good)
        for _ in range(rng.randint(1, 8)):
            blob[rng.randrange(len(blob))] = rng.randrange(256)
        return _pack(bytes(blob), data)
    if kind == 1:  # a lying header length
        claimed = rng.choice([0, 1, len(good) - 1, len(good) + 1, 2**63, 2**64 - 1, 17 * 2**20, len(good) * 2])
        return _pack(good, data, claimed)
    if kind == 2:  # truncated anywhere
        whole = _pack(good, data)
        return whole[: rng.randrange(len(whole))]
    if kind == 3:  # a nested value swapped
        blob = json.dumps(_replace_somewhere(rng, header), ensure_ascii=rng.random() < 0.5)
        return _pack(blob.encode("utf-8", "surrogatepass"), data)
    if kind == 4:  # a raw token (NaN, huge numbers, deep nesting, lone surrogates)
        return _pack(_with_raw_token(rng, header), data)
    if kind == 5:  # hostile metadata values (all strings, as the format wants)
        meta = dict(header.get("__metadata__", {}))
        for _ in range(rng.randint(1, 3)):
            meta[rng.choice(META_KEYS)] = rng.choice(META_VALUES)
        blob = json.dumps({**header, "__metadata__": meta}).encode("utf-8", "surrogatepass")
        return _pack(blob, data)
    if kind == 6:  # trailing or missing data bytes
        return _pack(good, data + b"\0" * rng.randint(1, 64) if rng.random() < 0.5 else data[: len(data) // 2])
    return os.urandom(rng.randint(0, 256))  # noise


def _sidecar_text(rng: random.Random) -> str:
    choice = rng.randrange(4)
    if choice == 0:
        return rng.choice(RAW_TOKENS)
    if choice == 1:
        body = {"activation text": rng.choice(META_VALUES), "preferred weight": rng.choice(HOSTILE_VALUES),
                "description": rng.choice(META_VALUES), "sd version": rng.choice(META_VALUES)}
        return json.dumps(body)
    if choice == 2:
        body = {"trainedWords": [rng.choice(META_VALUES)], "model": {"name": rng.choice(META_VALUES)},
                "baseModel": rng.choice(HOSTILE_VALUES)}
        return json.dumps(body)
    return rng.choice(META_VALUES)


def _folder(rng: random.Random, path: Path) -> None:
    path.mkdir(parents=True)
    kind = rng.randrange(3)
    hostile = rng.choice(RAW_TOKENS) if rng.random() < 0.5 else None
    if kind == 0:
        config = hostile or json.dumps({"r": rng.choice(HOSTILE_VALUES), "lora_alpha": rng.choice(HOSTILE_VALUES),
                                        "target_modules": rng.choice(HOSTILE_VALUES)})
        (path / "adapter_config.json").write_text(config.replace("99999", "9" * 400), "utf-8", "surrogatepass")
        (path / "adapter_model.safetensors").write_bytes(b"")
    elif kind == 1:
        (path / "config.json").write_text(
            hostile or json.dumps({"architectures": rng.choice([["GPT2LMHeadModel"], *HOSTILE_VALUES])}),
            "utf-8", "surrogatepass")
    else:
        (path / "model_index.json").write_text(
            hostile or json.dumps({"_class_name": rng.choice(["StableDiffusionPipeline", *HOSTILE_VALUES])}),
            "utf-8", "surrogatepass")
        (path / "unet").mkdir()
        (path / "unet" / "config.json").write_text(
            rng.choice(RAW_TOKENS) if rng.random() < 0.5
            else json.dumps({"cross_attention_dim": rng.choice(HOSTILE_VALUES)}),
            "utf-8", "surrogatepass")


def generate_corpus(dest: Path, count: int, seed: int, fifos: bool = True) -> list[Path]:
    """Write ``count`` hostile entries (files or folders) under ``dest``; returns their paths."""
    rng = random.Random(seed)
    seeds = seed_headers()
    dest.mkdir(parents=True, exist_ok=True)
    entries: list[Path] = []
    for i in range(count):
        roll = rng.random()
        sub = dest / f"g{i // 500:03d}"
        sub.mkdir(exist_ok=True)
        if roll < 0.03 and fifos and hasattr(os, "mkfifo"):
            path = sub / f"{i:05d}-pipe{rng.choice(['.safetensors', '.ckpt'])}"
            os.mkfifo(path)
            if rng.random() < 0.5:
                os.mkfifo(sub / f"{path.stem}.json")
        elif roll < 0.10:
            path = sub / f"{i:05d}-folder"
            _folder(rng, path)
        else:
            header, data = rng.choice(seeds)
            name = f"{i:05d}-{'ctl-' if rng.random() < 0.05 else ''}{rng.randrange(10**6)}"
            if name.endswith("0") and rng.random() < 0.2:
                name += "\x1b[31m\n"  # terminal escapes in a file name
            path = sub / f"{name}{'.ckpt' if rng.random() < 0.03 else '.safetensors'}"
            path.write_bytes(mutate_file(rng, header, data))
            if rng.random() < 0.3:
                side = rng.choice(SIDECARS)
                target = sub / (path.name + ".hf.json" if side == ".safetensors.hf.json" else path.stem + side)
                target.write_text(_sidecar_text(rng), "utf-8", "surrogatepass")
        entries.append(path)
    return entries


class EntryTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``EntryTimeout`` in this (main) thread after ``seconds``: a blocked open() is
    interrupted by the signal, so a hang becomes a failure instead of a frozen run. POSIX only."""

    def on_alarm(signum: int, frame: object) -> None:
        raise EntryTimeout

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def warm_imports() -> None:
    """Import torch before any time limit: a first ``import torch`` can take longer than one entry's
    limit on a loaded machine, and an import cut short by the alarm leaves torch half-initialised."""
    import safetensors.torch  # noqa: F401
    import torch  # noqa: F401


def check_entry(path: Path, data_dir: Path, timeout: float = 10.0) -> str:
    """Inspect (as ``info`` does: the record must be strict JSON) and import one entry; returns
    "ok", "error", "pickle" (the status) or a description of what went wrong ("RAISED: ...")."""
    from lorastudio.cli.library import _as_dict, _dumps
    from lorastudio.core.errors import LoraStudioError
    from lorastudio.core.library.catalog import Catalog
    from lorastudio.core.library.importer import import_path
    from lorastudio.core.metadata.detect import inspect_path
    from lorastudio.core.paths import DataDir

    try:
        with time_limit(timeout):
            info = inspect_path(path)
            if info.status not in ("ok", "error", "pickle"):
                return f"BAD STATUS: {info.status!r}"
            text = _dumps(_as_dict(info, full=True))
            json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
            data = DataDir(data_dir).ensure()
            with Catalog(data.catalog_db) as catalog:
                try:
                    import_path(data, catalog, path, convert_pickles=True)
                except LoraStudioError as err:
                    message = str(err)
                    if not message.endswith((".", "?", ")")) or "\n" in message or "Traceback" in message:
                        return f"BAD MESSAGE: {message[:200]!r}"
            return info.status
    except EntryTimeout:
        return f"HANG: more than {timeout} s"
    except Exception as err:
        return f"RAISED: {type(err).__name__}: {str(err)[:200]}"


def run(count: int, seed: int, out: Path | None, keep: bool, timeout: float) -> int:
    from lorastudio.core.library.catalog import Catalog
    from lorastudio.core.library.scanner import scan

    root = out or Path(tempfile.mkdtemp(prefix="lorastudio-fuzz-"))
    warm_imports()
    started = time.perf_counter()
    entries = generate_corpus(root / "corpus", count, seed)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    with time_limit(max(60.0, count * 0.05)), Catalog(root / "scan.sqlite3") as catalog:
        result = scan(catalog, [root / "corpus"])
        rows = catalog.records()
    scanned = time.perf_counter() - started
    outcomes: Counter[str] = Counter()
    problems: list[str] = []
    started = time.perf_counter()
    for path in entries:
        outcome = check_entry(path, root / "data", timeout)
        outcomes[outcome.split(":")[0]] += 1
        if outcome not in ("ok", "error", "pickle"):
            problems.append(f"{path}: {outcome}")
    checked = time.perf_counter() - started
    print(f"corpus: {count} entries (seed {seed}) generated in {generated:.1f} s under {root}")
    print(f"scan: {result.seen} seen, {len(rows)} rows, {result.errors} errors, "
          f"{result.skipped_summary() or 'nothing skipped'} in {scanned:.1f} s")
    print(f"inspect+import: {dict(outcomes)} in {checked:.1f} s ({1000 * checked / max(1, count):.1f} ms each)")
    for line in problems[:50]:
        print("PROBLEM", line)
    if not keep and out is None:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="keep the corpus here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary corpus")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per entry before it counts as a hang")
    args = parser.parse_args(argv)
    return run(args.count, args.seed, args.out, args.keep, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
