"""Regenerate the CLIP BPE tokenizer files shipped in ``resources/configs/clip-bpe/``.

Single-file checkpoints carry no tokenizer, and ``from_single_file`` must not go online for one, so
LoRA Studio ships CLIP's vocabulary. Its only offline source on PyPI is OpenAI's merge list
``bpe_simple_vocab_16e6.txt.gz``, bundled in ``open_clip_torch``. This script builds ``vocab.json``
and ``merges.txt`` from it exactly as CLIP's own ``SimpleTokenizer`` builds its vocabulary:

    256 byte symbols (GPT-2 ``bytes_to_unicode`` order), the same 256 with ``</w>``,
    then the first 48 894 merges joined, then ``<|startoftext|>`` and ``<|endoftext|>``  → 49 408 ids

Usage (no install needed, no torch/torchvision pulled)::

    pip download --no-deps open_clip_torch -d /tmp/oc
    python tools/make_clip_tokenizer.py /tmp/oc/open_clip_torch-*.whl      # or the .txt.gz itself

It then checks known ids ("a</w>" = 320, "<|endoftext|>" = 49407, ...) and that transformers'
``CLIPTokenizer`` loads the result.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import zipfile
from pathlib import Path

MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
N_MERGES = 49152 - 256 - 2  # CLIP uses the first 48 894 merges of the file
VOCAB_SIZE = 49408
OUT = Path(__file__).resolve().parents[1] / "resources" / "configs" / "clip-bpe"

# Ids every CLIP tokenizer agrees on (openai/clip-vit-large-patch14 vocab.json).
KNOWN_IDS = {"!": 0, "a</w>": 320, "photo</w>": 1125, "cat</w>": 2368,
             "<|startoftext|>": 49406, "<|endoftext|>": 49407}


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable character map (transformers 5 no longer exports it)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(keep, [chr(c) for c in chars], strict=True))


def read_merge_lines(source: Path) -> list[str]:
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            raw = wheel.read(MEMBER)
    else:
        raw = source.read_bytes()
    lines = gzip.decompress(raw).decode("utf-8").split("\n")
    return lines[1:N_MERGES + 1]  # line 0 is the "#version" header


def build(merge_lines: list[str]) -> tuple[dict[str, int], list[str]]:
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols]
    merges = [tuple(line.split()) for line in merge_lines]
    tokens += ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:
        raise SystemExit(f"expected {VOCAB_SIZE} tokens, got {len(vocab)}")
    return vocab, [" ".join(m) for m in merges]


def write(vocab: dict[str, int], merges: list[str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, separators=(",", ":")), "utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", "utf-8")


def check(out: Path) -> None:
    from transformers import CLIPTokenizer

    vocab = json.loads((out / "vocab.json").read_text("utf-8"))
    for tok, want in KNOWN_IDS.items():
        if vocab.get(tok) != want:
            raise SystemExit(f"{tok!r}: id {vocab.get(tok)}, expected {want}")
    tok = CLIPTokenizer.from_pretrained(str(out), model_max_length=77)
    ids = tok("a photo of a cat").input_ids
    if ids != [49406, 320, 1125, 539, 320, 2368, 49407]:
        raise SystemExit(f"unexpected ids for 'a photo of a cat': {ids}")
    print(f"ok: {len(vocab)} tokens, 'a photo of a cat' -> {ids}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="open_clip_torch wheel or bpe_simple_vocab_16e6.txt.gz")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    vocab, merges = build(read_merge_lines(args.source))
    write(vocab, merges, args.out)
    check(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
