"""Recognise causal-LM folders and PEFT adapter folders, and check that an adapter fits a model.

Everything here reads JSON files and safetensors *headers* only (``safe_open`` shapes): no tensor
is loaded and no pickle is ever opened, so scanning a big library stays cheap and safe.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lorastudio.core.errors import BadModelFile, IncompatibleLoraError, LoraLoadError, ModelLoadError
from lorastudio.core.metadata.untrusted import clean_text, finite_float, loads_json, parse_int, read_limited

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
TRAINING_SIDECAR = "training.json"
MAX_CONFIG_BYTES = 4 * 1024 * 1024
_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+?)\.(?P<part>lora_(?:embedding_)?[AB])"
                       r"(?:\.[^.]+)?(?:\.weight)?$")


@dataclass(frozen=True)
class TextModelInfo:
    """A transformers causal-LM folder."""

    path: Path
    name: str  # what the user sees: folder name, or the repo id for a Hugging Face cache snapshot
    architecture: str  # e.g. "GPT2LMHeadModel"
    model_type: str  # e.g. "gpt2"
    repo_id: str = ""  # set for Hugging Face cache snapshots
    weight_files: tuple[Path, ...] = ()

    @property
    def aliases(self) -> frozenset[str]:
        """Lower-case names an adapter's ``base_model_name_or_path`` may use for this model."""
        names = {self.name, self.path.name, self.repo_id}
        if self.repo_id:
            names.add(self.repo_id.split("/")[-1])
        return frozenset(n.lower() for n in names if n)


@dataclass(frozen=True)
class AdapterInfo:
    """A PEFT LoRA adapter folder."""

    path: Path
    name: str
    base_model: str  # base_model_name_or_path as written (may be an absolute path or a repo id)
    peft_type: str
    task_type: str
    rank: int
    alpha: float
    target_modules: tuple[str, ...]
    training: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def base_name(self) -> str:
        """The base model's short name: last part of a path or repo id."""
        return _short_name(self.base_model)


@dataclass(frozen=True)
class AdapterFit:
    """Whether an adapter fits a model; ``problem`` is a user sentence when it does not."""

    fits: bool
    name_matches: bool
    problem: str = ""

    @property
    def warning(self) -> str:
        """A softer note: the adapter fits structurally but was trained on a differently named base."""
        return "" if self.name_matches or not self.fits else "trained on another base name"


@contextlib.contextmanager
def quiet_peft_wrap() -> Iterator[None]:
    """Wrap a model in a ``PeftModel`` inside this block.

    peft 0.21's ``PeftModel.__init__`` reads ``model.is_gradient_checkpointing``, which transformers
    5.23 deprecated: every wrap printed a FutureWarning about code the user can't change. Only that
    warning is hidden, and only here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


def _short_name(name: str) -> str:
    name = name.strip().rstrip("/\\")
    return re.split(r"[/\\]", name)[-1] if name else ""


def _read_json(path: Path) -> dict[str, Any]:
    """A config's JSON object; regular files only, at most 4 MB and 64 levels deep."""
    try:
        data = loads_json(read_limited(path, MAX_CONFIG_BYTES), max_bytes=MAX_CONFIG_BYTES, lone_surrogates=True)
    except (OSError, ValueError) as err:
        raise BadModelFile(f"{path.name} in {clean_text(path.parent.name)} is not readable JSON.") from err
    if not isinstance(data, dict):
        raise BadModelFile(f"{path.name} in {path.parent.name} is not a JSON object.")
    return data


def _hf_repo_id(folder: Path) -> str:
    """``org/name`` for ``.../models--org--name/snapshots/<rev>``, else ''."""
    parts = folder.resolve().parts
    if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
        return parts[-3][len("models--"):].replace("--", "/")
    return ""


def _weight_files(folder: Path) -> tuple[Path, ...]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = _read_json(index).get("weight_map", {})
        return tuple(sorted({folder / str(f) for f in weight_map.values()}))
    return tuple(sorted(folder.glob("*.safetensors")))


def inspect_text_model(folder: Path) -> TextModelInfo | None:
    """The model in ``folder`` if it is a causal LM with safetensors weights, else None."""
    folder = Path(folder)
    config_file = folder / "config.json"
    if not config_file.is_file() or (folder / ADAPTER_CONFIG).is_file():
        return None
    try:
        config = _read_json(config_file)
    except BadModelFile:
        return None
    architectures = config.get("architectures") or []
    # GPT-2 and a few older families name their causal-LM head class *LMHeadModel.
    causal = [a for a in architectures
              if isinstance(a, str) and a.endswith(("ForCausalLM", "LMHeadModel"))]
    if not causal:
        return None
    weights = _weight_files(folder)
    if not weights:
        return None
    repo_id = _hf_repo_id(folder)
    return TextModelInfo(path=folder, name=repo_id or folder.name, architecture=causal[0],
                         model_type=str(config.get("model_type", "")), repo_id=repo_id,
                         weight_files=weights)


def inspect_adapter(folder: Path) -> AdapterInfo | None:
    """The LoRA adapter in ``folder`` (adapter_config.json + adapter_model.safetensors), else None."""
    folder = Path(folder)
    if not (folder / ADAPTER_CONFIG).is_file() or not (folder / ADAPTER_WEIGHTS).is_file():
        return None
    try:
        config = _read_json(folder / ADAPTER_CONFIG)
    except BadModelFile:
        return None
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        return None
    targets = config.get("target_modules") or []
    if isinstance(targets, str):
        targets = [targets]
    training: dict[str, Any] = {}
    if (folder / TRAINING_SIDECAR).is_file():
        try:
            training = _read_json(folder / TRAINING_SIDECAR)
        except BadModelFile:
            training = {}
    rank = parse_int(config.get("r", 8), 1, 1_000_000)
    alpha = finite_float(config.get("lora_alpha", 8), -1e6, 1e6)
    if rank is None or alpha is None or not isinstance(targets, list):
        return None  # a 400-digit lora_alpha or r="²" is not an adapter anyone trained
    return AdapterInfo(path=folder, name=clean_text(folder.name),
                       base_model=clean_text(str(config.get("base_model_name_or_path") or "")[:500]),
                       peft_type="LORA", task_type=clean_text(str(config.get("task_type") or "")[:100]),
                       rank=rank, alpha=alpha,
                       target_modules=tuple(sorted(clean_text(str(t))[:200] for t in targets[:10_000])),
                       training=training)


def require_text_model(folder: Path) -> TextModelInfo:
    """Like ``inspect_text_model`` but raises a user sentence when the folder is not a causal LM."""
    info = inspect_text_model(Path(folder))
    if info is None:
        raise ModelLoadError(f"{Path(folder).name} is not a language model folder "
                             "(config.json with a *ForCausalLM architecture and safetensors weights).")
    return info


def require_adapter(folder: Path) -> AdapterInfo:
    """Like ``inspect_adapter`` but raises a user sentence when the folder is not a LoRA adapter."""
    info = inspect_adapter(Path(folder))
    if info is None:
        raise LoraLoadError(f"{Path(folder).name} is not a LoRA adapter folder "
                            "(adapter_config.json and adapter_model.safetensors).")
    return info


def _safetensors_shapes(files: Iterable[Path]) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    for file in files:
        try:
            with safe_open(str(file), framework="numpy") as handle:
                for key in handle.keys():  # noqa: SIM118 - safe_open is not a dict
                    shapes[key] = tuple(handle.get_slice(key).get_shape())
        except Exception as err:  # safetensors raises its own error types for bad headers
            raise BadModelFile(f"{file.name} is not a readable safetensors file.") from err
    return shapes


def model_weight_shapes(model: TextModelInfo) -> dict[str, tuple[int, ...]]:
    """Parameter name → shape for every tensor of the model (headers only)."""
    return _safetensors_shapes(model.weight_files)


def adapter_layers(adapter: AdapterInfo) -> dict[str, dict[str, tuple[int, ...]]]:
    """Module path → {"lora_A": shape, "lora_B": shape} from the adapter's safetensors header."""
    layers: dict[str, dict[str, tuple[int, ...]]] = {}
    for key, shape in _safetensors_shapes([adapter.path / ADAPTER_WEIGHTS]).items():
        match = _LORA_KEY.match(key)
        if match:
            part = match["part"].replace("embedding_", "")
            layers.setdefault(match["module"], {})[part] = shape
    return layers


def _find_weight(shapes: dict[str, tuple[int, ...]], module: str) -> tuple[int, ...] | None:
    """The module's weight shape; tolerates a missing or extra leading prefix (``model.`` etc.)."""
    key = f"{module}.weight"
    if key in shapes:
        return shapes[key]
    suffix = "." + key
    hits = [s for k, s in shapes.items() if k.endswith(suffix) or key.endswith("." + k)]
    return hits[0] if len(hits) == 1 else None


def check_adapter_fit(adapter: AdapterInfo, model: TextModelInfo,
                      model_shapes: dict[str, tuple[int, ...]] | None = None) -> AdapterFit:
    """Compare the base name loosely and the structure strictly (every LoRA layer's module exists
    in the model and its A/B shapes match the module's weight)."""
    name_matches = adapter.base_name.lower() in model.aliases if adapter.base_name else True
    try:
        layers = adapter_layers(adapter)
        shapes = model_shapes if model_shapes is not None else model_weight_shapes(model)
    except BadModelFile as err:
        return AdapterFit(False, name_matches, str(err))
    if not layers:
        return AdapterFit(False, name_matches, f"{adapter.name} contains no LoRA weights.")
    for module, parts in layers.items():
        weight = _find_weight(shapes, module)
        if weight is None:
            return AdapterFit(False, name_matches,
                              f"{adapter.name} was made for another model: {model.name} has no layer "
                              f"{module}.")
        a_shape, b_shape = parts.get("lora_A"), parts.get("lora_B")
        if a_shape is None or b_shape is None or len(weight) != 2:
            return AdapterFit(False, name_matches, f"{adapter.name} has an incomplete LoRA layer {module}.")
        # LoRA A is (r, in) and B is (out, r) for nn.Linear; embeddings and GPT-2's Conv1D store the
        # weight the other way round, so either orientation of the weight fits.
        pair = (b_shape[0], a_shape[1])
        if pair not in (tuple(weight), tuple(reversed(weight))):
            return AdapterFit(False, name_matches,
                              f"{adapter.name} does not fit {model.name}: layer {module} is "
                              f"{'x'.join(map(str, weight))} but the adapter expects "
                              f"{'x'.join(map(str, pair))}.")
    return AdapterFit(True, name_matches)


def require_adapter_fit(adapter: AdapterInfo, model: TextModelInfo,
                        model_shapes: dict[str, tuple[int, ...]] | None = None) -> AdapterFit:
    """``check_adapter_fit`` that raises IncompatibleLoraError with its sentence when it does not fit."""
    fit = check_adapter_fit(adapter, model, model_shapes)
    if not fit.fits:
        raise IncompatibleLoraError(fit.problem)
    return fit


def _walk(root: Path, max_depth: int) -> Iterator[Path]:
    if not root.is_dir():
        return
    base_depth = len(root.parts)
    for current, dirs, files in os.walk(root):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if len(here.parts) - base_depth >= max_depth:
            dirs[:] = []
        if "config.json" in files or ADAPTER_CONFIG in files:
            yield here


_Found = TypeVar("_Found", "TextModelInfo", "AdapterInfo")


def _find(roots: Iterable[Path], inspect: Callable[[Path], _Found | None], max_depth: int) -> list[_Found]:
    found = [info for root in roots for folder in _walk(Path(root), max_depth)
             if (info := inspect(folder)) is not None]
    return sorted(found, key=lambda item: item.name.lower())


def find_text_models(roots: Iterable[Path], *, max_depth: int = 3) -> list[TextModelInfo]:
    """Causal LMs in folders under ``roots`` (a model folder's own subfolders are not searched)."""
    return _find(roots, inspect_text_model, max_depth)


def find_adapters(roots: Iterable[Path], *, max_depth: int = 3) -> list[AdapterInfo]:
    """LoRA adapter folders under ``roots``."""
    return _find(roots, inspect_adapter, max_depth)


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache (``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``)."""
    env = os.environ.get("HF_HUB_CACHE")
    if env:
        return Path(env).expanduser()
    home = os.environ.get("HF_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".cache" / "huggingface") / "hub"


def find_cached_text_models(cache: Path | None = None) -> list[TextModelInfo]:
    """Causal LMs in the Hugging Face cache: one entry per repo, its most recent snapshot."""
    cache = Path(cache) if cache is not None else hf_cache_dir()
    found: list[TextModelInfo] = []
    if not cache.is_dir():
        return found
    for repo in sorted(cache.glob("models--*")):
        snapshots = [s for s in (repo / "snapshots").glob("*") if s.is_dir()]
        for snapshot in sorted(snapshots, key=lambda s: s.stat().st_mtime, reverse=True):
            info = inspect_text_model(snapshot)
            if info is not None:
                found.append(info)
                break
    return found


def _pick(ref: str, found: list[_Found], names: Callable[[_Found], frozenset[str]], what: str,
          error: type[ModelLoadError] | type[LoraLoadError]) -> _Found:
    wanted = ref.strip().lower()
    hits = {info.path: info for info in found if wanted in names(info)}
    if len(hits) == 1:
        return next(iter(hits.values()))
    shown = clean_text(ref)[:200]
    if not hits:
        raise error(f"No {what} named {shown}: give its folder, or a name that `lorastudio text list` shows.")
    raise error(f"{len(hits)} {what}s are named {shown}: give the folder of the one you mean.")


def resolve_text_model(ref: str | Path, roots: Iterable[Path], *, cache: Path | None = None) -> TextModelInfo:
    """The language model ``ref`` names: an existing folder, else a name ``text list`` shows (the folder
    name or, for the Hugging Face cache, the repo id or its last part; case-insensitive)."""
    path = Path(ref).expanduser()
    if path.exists():
        return require_text_model(path)
    found = find_text_models(roots) + find_cached_text_models(cache)
    return _pick(str(ref), found, lambda m: m.aliases, "language model", ModelLoadError)


def resolve_adapter(ref: str | Path, roots: Iterable[Path]) -> AdapterInfo:
    """The LoRA adapter ``ref`` names: an existing folder, else an adapter folder's name under ``roots``."""
    path = Path(ref).expanduser()
    if path.exists():
        return require_adapter(path)
    found = find_adapters(roots)
    return _pick(str(ref), found, lambda a: frozenset({a.name.lower(), a.path.name.lower()}), "text adapter",
                 LoraLoadError)
