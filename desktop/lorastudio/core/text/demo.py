"""A tiny GPT-2 and byte-level tokenizer built offline in a second: the demo model and test fixture.

The tokenizer maps every byte to one token (GPT-2's byte-to-unicode alphabet, no merges), so any
text round-trips without a download. The weights start random and get a two-second full training
pass on a tiny corpus, so the base writes English-looking words; two demo adapters trained on
contrasting texts (cats, dogs) then make the mixer's effect visible.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

DEMO_MODEL_NAME = "tiny-gpt2-demo"
EOS_TOKEN = "<|endoftext|>"

# Short, repetitive texts so a demo adapter learns them in a few seconds on a CPU.
DEMO_TEXTS: dict[str, str] = {
    "tiny-cats": (
        "the cat sat on the mat. the cat purrs in the sun. a cat naps on the warm mat.\n"
        "the little cat chases a ball of yarn. the cat sleeps all day.\n"
    ),
    "tiny-dogs": (
        "a dog ran in the park. the dog barks at the mailman. a good dog fetches the stick.\n"
        "the happy dog digs in the garden. the dog wags its tail.\n"
    ),
}
_BASE_TEXT = "the sun is warm. the park is green. a bird sings in the tree. we walk on the path.\n"


def byte_alphabet() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values, in byte order."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    shift = {b: 256 + i for i, b in enumerate(b for b in range(256) if b not in keep)}
    return [chr(b) if b in keep else chr(shift[b]) for b in range(256)]


def write_byte_tokenizer(folder: Path) -> None:
    """Write vocab.json + merges.txt for a byte-level GPT-2 tokenizer with 257 tokens."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {ch: i for i, ch in enumerate(byte_alphabet())}
    vocab[EOS_TOKEN] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), "utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", "utf-8")


def build_demo_model(folder: Path, *, n_embd: int = 64, n_layer: int = 2, n_head: int = 2,
                     n_positions: int = 256, pretrain_steps: int = 150, seed: int = 0) -> Path:
    """Build a tiny GPT2LMHeadModel + tokenizer into ``folder`` (created) and return it.

    ``pretrain_steps`` full-model steps on a tiny corpus turn random weights into a model that
    spells words (0 keeps the random weights: fastest, for tests that need no readable text)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    folder = Path(folder)
    write_byte_tokenizer(folder)
    tokenizer = GPT2Tokenizer.from_pretrained(folder)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd,
                        n_layer=n_layer, n_head=n_head, bos_token_id=tokenizer.eos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id)
    # fork_rng: building the demo must not move the caller's global random state.
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
        if pretrain_steps:
            _pretrain(model, tokenizer((_BASE_TEXT + "".join(DEMO_TEXTS.values())) * 3).input_ids,
                      pretrain_steps)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _pretrain(model: object, ids: list[int], steps: int, block: int = 64, batch: int = 8) -> None:
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)  # type: ignore[attr-defined]
    model.train()  # type: ignore[attr-defined]
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - block - 1, (batch,))
        tokens = torch.tensor([ids[s:s + block] for s in starts.tolist()])
        model(input_ids=tokens, labels=tokens).loss.backward()  # type: ignore[operator]
        optimizer.step()
        optimizer.zero_grad()
    model.eval()  # type: ignore[attr-defined]


def build_demo_adapters(model_dir: Path, adapters_root: Path, *, steps: int = 60,
                        lr: float = 5e-3) -> list[Path]:
    """Train the demo adapters (one per ``DEMO_TEXTS`` entry) on ``model_dir``; return their folders."""
    from lorastudio.core.text.train import TrainConfig, train_adapter

    out: list[Path] = []
    for name, text in DEMO_TEXTS.items():
        target = Path(adapters_root) / name
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / f"{name}.txt"
            data.write_text(text * 4, "utf-8")
            config = TrainConfig(rank=8, alpha=16, dropout=0.0, lr=lr, epochs=1000, batch_size=4,
                                 max_length=32, max_steps=steps, eval_fraction=0.1, seed=0)
            result = train_adapter(Path(model_dir), data, target, config)
        if result.adapter_dir is not None:
            out.append(result.adapter_dir)
    return out


def build_demo(models_root: Path, adapters_root: Path | None = None) -> tuple[Path, list[Path]]:
    """The demo model in ``models_root/tiny-gpt2-demo`` and, if asked, its adapters."""
    model_dir = build_demo_model(Path(models_root) / DEMO_MODEL_NAME)
    adapters = build_demo_adapters(model_dir, adapters_root) if adapters_root is not None else []
    return model_dir, adapters
