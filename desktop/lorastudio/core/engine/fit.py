"""Does an adapter file fit the loaded model? Answered from its header alone (keys and shapes).

Each layer of the file is mapped to a module of the pipeline (core/engine/adapter_keys.py) and the
shape of its ΔW compared with the module's weight. The answer is counted, refused when (almost)
nothing lands, and phrased as one sentence; the module names go to the log only.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from lorastudio.core.engine.adapter_keys import IGNORED_PREFIXES, ModuleIndex, Target, split_key
from lorastudio.core.engine.adapter_math import UnsupportedLayer, delta_shape, layer_kind

log = logging.getLogger(__name__)

MIN_FIT = 0.5  # below this share of layers landing, the file is for another model
_LEGACY = ("_lora.down.weight", "_lora.up.weight", ".lora_linear_layer.down.weight",
           ".lora_linear_layer.up.weight")


@dataclass(frozen=True)
class PlannedLayer:
    layer: str  # the layer's name in the file
    target: Target
    kind: str
    roles: frozenset[str]


@dataclass
class FitReport:
    """What the header says about a file on this model."""

    layers: list[PlannedLayer] = field(default_factory=list)
    total: int = 0  # layers in the file (ignored extras such as embedded embeddings not counted)
    unknown: int = 0  # layers naming no module of this model
    mismatched: int = 0  # layers whose shapes differ from the module's weight
    refused: str = ""  # a format we never half-apply (OFT, GLoRA, …), or "" when none
    kinds: frozenset[str] = frozenset()
    dora: bool = False
    kohya: bool = False
    metadata: dict[str, str] = field(default_factory=dict)  # the file's __metadata__ (PEFT alphas)
    # Old diffusers attention-processor layout (``…processor.to_q_lora.down.weight``,
    # ``…lora_linear_layer.down.weight``): only diffusers' own loader reads it.
    legacy: bool = False

    @property
    def fitting(self) -> int:
        return len(self.layers)

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.fitting == self.total

    @property
    def plain_lora(self) -> bool:
        """Only low-rank layers without DoRA: what diffusers/PEFT adapters compute exactly."""
        return self.kinds == frozenset({"lora"}) and not self.dora and not any(
            "lora_mid.weight" in p.roles for p in self.layers)


def _fits(kind: str, shapes: dict[str, tuple[int, ...]], weight_shape: tuple[int, ...]) -> bool:
    if kind == "norm":
        return bool(weight_shape) and (shapes.get("w_norm") or shapes.get("b_norm") or (0,))[0] == weight_shape[0]
    if kind == "full" and "diff" in shapes:
        return tuple(shapes["diff"]) == tuple(weight_shape)
    got = delta_shape(kind, shapes)
    if got is None or not weight_shape:
        return False
    return got == (weight_shape[0], math.prod(weight_shape[1:]) if len(weight_shape) > 1 else 1)


def fit_report(shapes: dict[str, tuple[int, ...]], index: ModuleIndex) -> FitReport:
    """Map every layer of a file (tensor name → shape) onto ``index``; never raises."""
    groups: dict[str, dict[str, tuple[int, ...]]] = {}
    stray = legacy = 0
    for key, shape in shapes.items():
        if key.startswith(IGNORED_PREFIXES):
            continue
        split = split_key(key)
        if split is None:
            if key.endswith(_LEGACY):
                legacy += 1
            stray += 1
            continue
        groups.setdefault(split[0], {})[split[1]] = tuple(shape)
    report = FitReport(total=len(groups), legacy=legacy > 0 and not groups)
    kinds: set[str] = set()
    unknown_names: list[str] = []
    for layer, roles in groups.items():
        try:
            kind = layer_kind(set(roles))
        except UnsupportedLayer as err:
            if err.kind in ("OFT", "BOFT", "GLoRA", "IA3"):
                report.refused = err.kind
                log.info("refused layer %s: %s", layer, err)
                return report
            report.unknown += 1
            unknown_names.append(layer)
            continue
        target = index.lookup(layer)
        if target is None:
            report.unknown += 1
            unknown_names.append(layer)
            continue
        weight = index.modules[target].weight
        if not _fits(kind, roles, tuple(weight.shape)):
            report.mismatched += 1
            log.info("layer %s: shapes %s do not fit %s %s", layer, roles, target, tuple(weight.shape))
            continue
        kinds.add(kind)
        report.dora = report.dora or bool({"dora_scale", "lora_magnitude_vector",
                                           "lora_magnitude_vector.weight"} & set(roles))
        report.kohya = report.kohya or layer.startswith("lora_")
        report.layers.append(PlannedLayer(layer, target, kind, frozenset(roles)))
    report.kinds = frozenset(kinds)
    if unknown_names:
        log.info("%d layers name no module of this model, e.g. %s", len(unknown_names), unknown_names[:5])
    if stray:
        log.info("%d tensors are no adapter tensors and are ignored", stray)
    return report


def fit_sentence(name: str, report: FitReport, lora_base: str, model_base: str) -> tuple[str, bool]:
    """(sentence, refuse): a refusal when under MIN_FIT lands, a warning when part does not."""
    total, fitting = report.total, report.fitting
    if total == 0:
        return f"{name} holds no LoRA weights (is it a checkpoint or an embedding?).", True
    if fitting < MIN_FIT * total:
        if lora_base and lora_base != model_base:
            return (f"{name} was made for {lora_base}: {fitting} of {total} layers fit this "
                    f"{model_base} model.", True)
        return f"{name} does not fit this {model_base} model: {fitting} of {total} layers fit.", True
    if fitting < total:
        parts = []
        if report.unknown:
            parts.append(f"{report.unknown} unknown layer{'s' if report.unknown != 1 else ''}")
        if report.mismatched:
            parts.append(f"{report.mismatched} of another size")
        return f"{name} fits {fitting} of {total} layers ({' and '.join(parts)} ignored).", False
    return "", False
