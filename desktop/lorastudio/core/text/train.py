"""LoRA fine-tuning of a causal LM on plain text: a small, explicit torch loop.

Data: a ``.txt`` file, a folder of ``.txt`` files, or JSONL with a ``"text"`` field; binary files
and more than 256 MB are refused with a sentence, and the output folder is checked before anything
is loaded. The texts are tokenized in 64 KB pieces with progress (a 50 MB one-line file in one
call sits in the tokenizer for minutes), joined with EOS and cut into equal blocks; a seeded
shuffle holds out a few blocks to measure perplexity before and after. The adapter is saved (PEFT
layout at the folder's root) after every epoch and every ``save_every_steps`` steps, so a cancel
keeps the last checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import InvalidRequest, LoraStudioError, TrainingDataError
from lorastudio.core.metadata.untrusted import clean_text, open_regular, require_float, require_int
from lorastudio.core.text.models import ADAPTER_CONFIG, TRAINING_SIDECAR, quiet_peft_wrap, require_text_model


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters; the defaults are the usual LoRA recipe (r=8, alpha=32, dropout 0.05)."""

    rank: int = 8
    alpha: float = 32.0
    dropout: float = 0.05
    lr: float = 2e-4
    epochs: int = 3
    batch_size: int = 4
    max_length: int = 128
    target_modules: tuple[str, ...] = ()  # empty: PEFT's default for the architecture
    eval_fraction: float = 0.1
    save_every_steps: int = 0  # 0: save after each epoch only
    max_steps: int = 0  # 0: no limit (the epochs decide)
    seed: int = 0

    def validate(self) -> TrainConfig:
        """Raise ``InvalidRequest`` with one sentence for the first setting out of range; return self."""
        require_int("Rank", self.rank, 1, 1024)
        require_float("Alpha", self.alpha, 1e-6, 100_000.0)
        require_float("Dropout", self.dropout, 0.0, 0.99)
        require_float("The learning rate", self.lr, 1e-12, 1.0)
        require_int("Epochs", self.epochs, 1, 1000)
        require_int("The batch size", self.batch_size, 1, 1024)
        require_int("The maximum length", self.max_length, 8, 65_536)
        require_float("The evaluation fraction", self.eval_fraction, 0.0, 0.5)
        require_int("Save every N steps", self.save_every_steps, 0, 10**9)
        require_int("Max steps", self.max_steps, 0, 10**9)
        require_int("The seed", self.seed, 0, 2**64 - 1)
        return self


@dataclass(frozen=True)
class TrainProgress:
    step: int
    total_steps: int
    epoch: int  # 1-based
    epochs: int
    loss: float


@dataclass(frozen=True)
class TrainResult:
    adapter_dir: Path | None  # None when cancelled before the first checkpoint
    steps: int
    losses: tuple[float, ...]
    perplexity_before: float
    perplexity_after: float | None  # None when cancelled
    target_modules: tuple[str, ...]
    cancelled: bool = False
    checkpoint_step: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


ProgressCallback = Callable[[TrainProgress], None]
PrepareCallback = Callable[[int, int], None]  # characters tokenized so far, characters in all

MAX_TRAIN_BYTES = 256 * 1024 * 1024
TOKENIZE_PIECE = 64 * 1024  # characters per tokenizer call
_SAMPLE = 64 * 1024


def read_training_texts(path: Path) -> list[str]:
    """Texts from a .txt file, a folder of .txt files (recursive), or JSONL with a "text" field."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise TrainingDataError(f"{path.name} holds no .txt files.")
        texts = [_read_text(f) for f in files]
    elif path.is_file() and path.suffix.lower() in (".jsonl", ".json"):
        texts = _read_jsonl(path)
    elif path.exists():  # a regular file, or a pipe/device that _read_text names and refuses
        texts = [_read_text(path)]
    else:
        raise TrainingDataError(f"{path} does not exist.")
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise TrainingDataError(f"{path.name} contains no text.")
    if sum(len(t) for t in texts) > MAX_TRAIN_BYTES:
        raise TrainingDataError(f"{path.name} holds more than {MAX_TRAIN_BYTES >> 20} MB of text; use less.")
    return texts


def text_pieces(text: str, size: int = TOKENIZE_PIECE) -> list[str]:
    """``text`` cut into pieces of about ``size`` characters, at a line break or space when one is
    near, so that tokenizing the pieces gives (almost) the tokens of the whole."""
    pieces: list[str] = []
    start = 0
    while len(text) - start > size:
        end = start + size
        cut = max(text.rfind("\n", start + size // 2, end), text.rfind(" ", start + size // 2, end))
        end = cut + 1 if cut > start else end
        pieces.append(text[start:end])
        start = end
    pieces.append(text[start:])
    return pieces


def tokenize_texts(tokenizer: Any, texts: list[str], on_prepare: PrepareCallback | None = None) -> list[int]:
    """Token ids of ``texts`` joined with EOS, tokenized piece by piece with progress."""
    eos = tokenizer.eos_token_id
    total = sum(len(t) for t in texts)
    done = 0
    ids: list[int] = []
    for text in texts:
        for piece in text_pieces(text):
            ids.extend(tokenizer(piece).input_ids)
            done += len(piece)
            if on_prepare is not None:
                on_prepare(done, total)
        if eos is not None:
            ids.append(eos)
    return ids


def check_output_folder(out_dir: Path, what: str = "the adapter") -> None:
    """Refuse, before any work, an output folder that exists and is not empty, or whose parent is
    missing (nothing is created outside what the user named) or not writable."""
    out_dir = Path(out_dir)
    shown = clean_text(str(out_dir))
    if out_dir.exists():
        if not out_dir.is_dir():
            raise InvalidRequest(f"{shown} exists and is not a folder.")
        if any(out_dir.iterdir()):
            raise InvalidRequest(f"{out_dir.name} already exists; choose another name for {what}.")
        parent = out_dir
    else:
        parent = out_dir.absolute().parent
        if not parent.is_dir():
            raise InvalidRequest(f"{clean_text(str(parent))} does not exist; create it first.")
    try:  # os.access cannot tell (root, /proc, read-only mounts): create and remove a file
        fd, probe = tempfile.mkstemp(prefix=".lorastudio-write-test-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError:
        raise InvalidRequest(f"{clean_text(str(parent))} is not writable.") from None


def _read_text(path: Path) -> str:
    """A training file's text, read in chunks; refused if it is not a regular file, too big or binary."""
    name = clean_text(path.name)
    try:
        with open_regular(path) as f:
            if os.fstat(f.fileno()).st_size > MAX_TRAIN_BYTES:
                raise TrainingDataError(f"{name} is larger than {MAX_TRAIN_BYTES >> 20} MB; split it or use less text.")
            chunks = []
            while chunk := f.read(4 * 1024 * 1024):
                chunks.append(chunk)
    except OSError as err:
        raise TrainingDataError(f"{name} could not be read: {err.strerror or err}.") from None
    raw = b"".join(chunks)
    if _looks_binary(raw):
        raise TrainingDataError(f"{name} looks like binary data, not text; train on .txt or .jsonl files.")
    return raw.decode("utf-8", errors="replace")


def _looks_binary(raw: bytes) -> bool:
    """NUL bytes, or more than 5% of undecodable bytes, in the first 64 KB: not text anyone wrote."""
    sample = raw[:_SAMPLE]
    if b"\x00" in sample:
        return True
    text = sample.decode("utf-8", errors="replace")
    return text.count("\ufffd") > 0.05 * max(1, len(text))


def _read_jsonl(path: Path) -> list[str]:
    texts: list[str] = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as err:
            raise TrainingDataError(f"Line {number} of {path.name} is not valid JSON.") from err
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise TrainingDataError(f'Line {number} of {path.name} has no "text" field.')
        texts.append(record["text"])
    return texts


def make_blocks(token_ids: list[int], max_length: int) -> list[list[int]]:
    """Equal-length blocks (no padding needed); short data gets shorter blocks, at least two."""
    if len(token_ids) < 8:
        raise TrainingDataError("The training text is too short (fewer than 8 tokens).")
    size = min(max_length, len(token_ids) // 2)
    blocks = [token_ids[i:i + size] for i in range(0, len(token_ids) - size + 1, size)]
    rest = len(token_ids) % size
    if rest >= size // 2 and len(token_ids) > size:
        blocks.append(token_ids[-size:])  # overlaps the previous block rather than padding
    return blocks


def default_target_modules(model_type: str) -> tuple[str, ...]:
    """PEFT's per-architecture LoRA targets (GPT-2: c_attn); empty if PEFT has none."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping

    targets = mapping.get(model_type)
    return tuple(targets) if isinstance(targets, list) else ()


def _uses_conv1d(model: Any, targets: tuple[str, ...]) -> bool:
    """GPT-2-style Conv1D stores weights as (in, out): LoRA then needs fan_in_fan_out=True."""
    from transformers.pytorch_utils import Conv1D

    return any(isinstance(module, Conv1D) for name, module in model.named_modules()
               if any(name == t or name.endswith("." + t) for t in targets))


def unique_dir(root: Path, stem: str) -> Path:
    """``root/stem``, or ``root/stem-2`` … when taken."""
    candidate = Path(root) / stem
    n = 2
    while candidate.exists():
        candidate = Path(root) / f"{stem}-{n}"
        n += 1
    return candidate


def _mean_loss(model: Any, blocks: list[list[int]], batch_size: int, device: str) -> float:
    import torch

    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(blocks), batch_size):
            batch = torch.tensor(blocks[i:i + batch_size], device=device)
            total += float(model(input_ids=batch, labels=batch).loss) * len(batch)
    return total / len(blocks)


def _perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))  # clamp: an untrained model must not overflow to inf


def train_adapter(model_dir: Path, data: Path, out_dir: Path, config: TrainConfig | None = None,
                  on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                  device: str = "cpu", on_prepare: PrepareCallback | None = None) -> TrainResult:
    """Train a LoRA adapter on ``data`` for the model in ``model_dir`` and save it in ``out_dir``."""
    # Settings and the output folder first: a mistake there must not cost the imports and the load.
    config = (config or TrainConfig()).validate()
    out_dir = Path(out_dir)
    check_output_folder(out_dir)

    import torch
    from peft import LoraConfig, get_peft_model

    from lorastudio.core.text.engine import context_length, load_causal_lm

    token = cancel or CancelToken()
    info = require_text_model(Path(model_dir))
    texts = read_training_texts(Path(data))
    model, tokenizer = load_causal_lm(info.path, device)

    ids = tokenize_texts(tokenizer, texts, on_prepare)
    blocks = make_blocks(ids, max(8, min(config.max_length, context_length(model))))
    generator = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(blocks), generator=generator).tolist()
    n_eval = max(1, round(len(blocks) * config.eval_fraction))
    eval_blocks = [blocks[i] for i in order[:n_eval]]
    train_blocks = [blocks[i] for i in order[n_eval:]]

    targets = config.target_modules or default_target_modules(info.model_type)
    if not targets:
        raise LoraStudioError(f"No default LoRA target modules are known for {info.model_type or 'this'} "
                              "models; name them (for example q_proj,v_proj).")
    # peft annotates lora_alpha as int but only divides by it (alpha / r), so a float alpha works.
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,  # type: ignore[arg-type]
                      target_modules=list(targets), fan_in_fan_out=_uses_conv1d(model, targets),
                      task_type="CAUSAL_LM")
    torch.manual_seed(config.seed)
    try:
        with quiet_peft_wrap():
            peft_model = get_peft_model(model, lora)
    except ValueError as err:
        raise LoraStudioError(f"LoRA could not be attached: {err}".splitlines()[0]) from err

    ppl_before = _perplexity(_mean_loss(peft_model, eval_blocks, config.batch_size, device))
    steps_per_epoch = math.ceil(len(train_blocks) / config.batch_size)
    total = steps_per_epoch * config.epochs
    if config.max_steps:
        total = min(total, config.max_steps)
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=config.lr)
    losses: list[float] = []
    step = checkpoint_step = 0
    started = time.time()

    def save(epochs_done: int, final: bool = False) -> None:
        nonlocal checkpoint_step
        _save_adapter(peft_model, out_dir, info.repo_id or info.path.name, {
            "base_model": info.repo_id or info.path.name,
            "data": Path(data).name,
            "config": {**asdict(config), "target_modules": list(targets)},
            "steps": step, "total_steps": total, "epochs_done": epochs_done,
            "losses": losses, "perplexity_before": ppl_before,
            "completed": final and not token.cancelled, "seconds": round(time.time() - started, 2),
        })
        checkpoint_step = step

    epoch = 0
    cancelled = False
    for epoch in range(1, config.epochs + 1):
        peft_model.train()
        perm = torch.randperm(len(train_blocks), generator=generator).tolist()
        for i in range(0, len(perm), config.batch_size):
            if token.cancelled or (config.max_steps and step >= config.max_steps):
                break
            batch = torch.tensor([train_blocks[j] for j in perm[i:i + config.batch_size]], device=device)
            loss = peft_model(input_ids=batch, labels=batch).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss.item())
            if on_progress is not None:
                on_progress(TrainProgress(step, total, epoch, config.epochs, losses[-1]))
            if config.save_every_steps and step % config.save_every_steps == 0:
                save(epoch - 1)
        if token.cancelled:
            cancelled = True
            break
        if step >= total:
            break
        save(epoch)

    ppl_after: float | None = None
    if not cancelled:
        ppl_after = _perplexity(_mean_loss(peft_model, eval_blocks, config.batch_size, device))
        save(epoch, final=True)
        _update_sidecar(out_dir, {"perplexity_after": ppl_after})
    saved = out_dir if (out_dir / ADAPTER_CONFIG).is_file() else None
    return TrainResult(adapter_dir=saved, steps=step, losses=tuple(losses), perplexity_before=ppl_before,
                       perplexity_after=ppl_after, target_modules=tuple(targets), cancelled=cancelled,
                       checkpoint_step=checkpoint_step if saved else 0)


def _save_adapter(peft_model: Any, out_dir: Path, base_name: str, training: dict[str, Any]) -> None:
    """Save at the folder root (adapter name "default"), scrub the absolute base path, write the sidecar."""
    out_dir.mkdir(exist_ok=True)  # its parent was checked before training: nothing else is created
    peft_model.save_pretrained(str(out_dir))
    config_file = out_dir / ADAPTER_CONFIG
    adapter_config = json.loads(config_file.read_text("utf-8"))
    # PEFT writes the absolute path of the base folder: private, and wrong on any other machine.
    adapter_config["base_model_name_or_path"] = base_name
    config_file.write_text(json.dumps(adapter_config, indent=2), "utf-8")
    readme = out_dir / "README.md"
    if readme.is_file():  # PEFT's model card template repeats the absolute path
        readme.unlink()
    (out_dir / TRAINING_SIDECAR).write_text(json.dumps(training, indent=2), "utf-8")


def _update_sidecar(out_dir: Path, changes: dict[str, Any]) -> None:
    sidecar = out_dir / TRAINING_SIDECAR
    data = json.loads(sidecar.read_text("utf-8"))
    data.update(changes)
    sidecar.write_text(json.dumps(data, indent=2), "utf-8")
