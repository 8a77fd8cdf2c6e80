"""TextEngine: one causal LM loaded once, PEFT adapters loaded once each, weighted mixes, streaming.

A mix is applied with PEFT's ``add_weighted_adapter(combination_type="cat")``: it concatenates the
scaled LoRA factors, so the combined delta is exactly ``Σ wᵢ·ΔWᵢ`` for any ranks (``"linear"`` is
not, and ``"svd"`` truncates). Each new mix replaces the previous combined adapter; the base model
and the loaded adapters stay. A mix whose weights are all zero runs the base via
``disable_adapter()``. The engine is not thread-safe: one worker thread owns it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lorastudio.core.cancel import CancelToken
from lorastudio.core.errors import LoraLoadError, LoraStudioError, ModelLoadError
from lorastudio.core.text.mix import TextGenerationRequest, TextGenerationResult, TextMix
from lorastudio.core.text.models import (
    AdapterInfo,
    TextModelInfo,
    model_weight_shapes,
    quiet_peft_wrap,
    require_adapter,
    require_adapter_fit,
    require_text_model,
)

TextCallback = Callable[[str], None]


def quiet_transformers() -> None:
    """Silence progress bars and advisory logs that would otherwise flood a console or a log pane."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def pick_device(requested: str = "auto") -> str:
    """"auto": CUDA, then Apple MPS, then the CPU; anything else is used as given."""
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def load_causal_lm(path: Path, device: str = "cpu") -> tuple[Any, Any]:
    """(model in eval mode, tokenizer) from a causal-LM folder; user sentence on failure."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    info = require_text_model(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(info.path)
        model = AutoModelForCausalLM.from_pretrained(info.path, dtype="float32", use_safetensors=True)
    except (OSError, ValueError, KeyError) as err:
        raise ModelLoadError(f"{info.name} could not be loaded: {err}".splitlines()[0]) from err
    # transformers decorates .to with functools.wraps, which mypy reads as an unbound function.
    model.to(device)  # type: ignore[arg-type]
    model.eval()
    return model, tokenizer


def context_length(model: Any) -> int:
    config = model.config
    for attr in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


class _Streamer:
    """Decodes the growing continuation and reports only the new text, token by token.

    Decoding the whole continuation each time (instead of one token) keeps multi-byte characters and
    word-joining tokenizers right; a trailing U+FFFD is held back until its bytes are complete.
    """

    def __init__(self, tokenizer: Any, on_text: TextCallback | None) -> None:
        self._tokenizer = tokenizer
        self._on_text = on_text
        self._ids: list[int] = []
        self._sent = 0
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate() first passes the prompt
            self._prompt_seen = True
            return
        self._ids.extend(int(t) for t in value.reshape(-1).tolist())
        self._flush(final=False)

    def end(self) -> None:
        self._flush(final=True)

    def _flush(self, final: bool) -> None:
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        if not final and text.endswith("\ufffd"):
            return
        new = text[self._sent:]
        if new:
            self._sent = len(text)
            if self._on_text is not None:
                self._on_text(new)


class TextEngine:
    """Holds one causal LM and its adapters. Counters (``model_loads``, ``adapter_loads``,
    ``mix_builds``) let tests and benchmarks check that a slider change never reloads the base."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = pick_device(device)
        self.model_loads = 0
        self.adapter_loads = 0
        self.mix_builds = 0
        self._info: TextModelInfo | None = None
        self._model: Any = None  # the base model, or the PeftModel wrapping it once an adapter loads
        self._tokenizer: Any = None
        self._peft = False
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._adapters: dict[str, str] = {}  # adapter folder → PEFT adapter name
        self._adapter_infos: dict[str, AdapterInfo] = {}
        self._combined: str | None = None  # the current mix adapter's name
        self._applied: tuple[tuple[str, float], ...] | None = None
        self._mix = TextMix()
        self._serial = 0

    # -- model -------------------------------------------------------------------------------
    @property
    def model_info(self) -> TextModelInfo | None:
        return self._info

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    @property
    def mix(self) -> TextMix:
        return self._mix

    @property
    def loaded_adapters(self) -> dict[str, str]:
        """Adapter folder → the internal PEFT adapter name."""
        return dict(self._adapters)

    def load_model(self, path: str | Path) -> TextModelInfo:
        """Load the base model unless it is the one already loaded; drops all adapters otherwise."""
        info = require_text_model(Path(path))
        if self._info is not None and self._info.path.resolve() == info.path.resolve():
            return self._info
        self.unload()
        self._model, self._tokenizer = load_causal_lm(info.path, self.device)
        self._shapes = model_weight_shapes(info)
        self._info = info
        self.model_loads += 1
        return info

    def unload(self) -> None:
        self._info = None
        self._model = self._tokenizer = None
        self._peft = False
        self._shapes = {}
        self._adapters.clear()
        self._adapter_infos.clear()
        self._combined = None
        self._applied = None
        self._mix = TextMix()

    def _require_model(self) -> TextModelInfo:
        if self._info is None:
            raise ModelLoadError("Choose a language model first.")
        return self._info

    # -- adapters ----------------------------------------------------------------------------
    def load_adapter(self, path: str | Path) -> str:
        """Load an adapter once (checked against the model first); returns its PEFT name."""
        info = self._require_model()
        key = str(Path(path))
        if key in self._adapters:
            return self._adapters[key]
        adapter = require_adapter(Path(path))
        require_adapter_fit(adapter, info, self._shapes)
        self._serial += 1
        # PEFT names become attribute keys of ModuleDicts: a '.' or a clash with an nn.Module
        # attribute breaks them, so the user's folder name is never used.
        name = f"adapter_{self._serial}"
        try:
            if not self._peft:
                from peft import PeftModel

                with quiet_peft_wrap():
                    self._model = PeftModel.from_pretrained(self._model, str(adapter.path), adapter_name=name,
                                                            is_trainable=False)
                self._peft = True
            else:
                self._model.load_adapter(str(adapter.path), adapter_name=name, is_trainable=False)
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            raise LoraLoadError(f"{adapter.name} could not be loaded: {err}".splitlines()[0]) from err
        self._model.eval()
        self._adapters[key] = name
        self._adapter_infos[key] = adapter
        self.adapter_loads += 1
        return name

    def set_mix(self, mix: TextMix) -> None:
        """Apply a mix: loads adapters not loaded yet, then builds one combined adapter (cheap)."""
        self._require_model()
        for path in mix.paths:
            self.load_adapter(path)
        self._mix = mix
        active = mix.active
        if active == self._applied:
            return
        if not active:
            self._applied = active
            return
        names = [self._adapters[p] for p, _ in active]
        weights = [w for _, w in active]
        if len(names) == 1 and weights[0] < 0:
            # PEFT treats a single adapter as "linear", which takes sqrt(weight); a second, zero-weight
            # copy keeps it on the exact "cat" path for negative weights too.
            names, weights = [names[0], names[0]], [weights[0], 0.0]
        self._serial += 1
        combined = f"mix_{self._serial}"
        self._model.add_weighted_adapter(names, weights, adapter_name=combined, combination_type="cat")
        self._model.set_adapter(combined)
        if self._combined is not None:
            self._model.delete_adapter(self._combined)
        self._combined = combined
        self._applied = active
        self._model.eval()
        self.mix_builds += 1

    def peft_model(self) -> Any:
        """The PeftModel with the current mix active (for merging); errors without adapters."""
        self._require_model()
        if not self._peft or not self._mix.active:
            raise LoraStudioError("Give at least one adapter a weight other than 0 first.")
        return self._model

    # -- generation ----------------------------------------------------------------------------
    def generate(self, request: TextGenerationRequest, on_text: TextCallback | None = None,
                 cancel: CancelToken | None = None) -> TextGenerationResult:
        """Generate a continuation of ``request.prompt`` with the current mix, streaming new text to
        ``on_text``; a cancel stops after the current token and returns what was generated."""
        import contextlib

        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        self._require_model()
        tokenizer = self._tokenizer
        prompt_ids = tokenizer(request.prompt, return_tensors="pt").input_ids
        eos = tokenizer.eos_token_id
        if eos is None:
            eos = self._model.config.eos_token_id
        if prompt_ids.shape[1] == 0:
            if eos is None:
                raise LoraStudioError("Type a prompt first.")
            prompt_ids = torch.tensor([[eos]])
        room = context_length(self._model) - prompt_ids.shape[1]
        if room <= 0:
            raise LoraStudioError(f"The prompt is longer than the model's context of "
                                  f"{context_length(self._model)} tokens.")
        token = cancel or CancelToken()

        class _CancelCriteria(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), token.cancelled, dtype=torch.bool,
                                  device=input_ids.device)

        seed = request.seed if request.seed is not None else random.randrange(2**31)
        kwargs: dict[str, Any] = {
            "max_new_tokens": max(1, min(request.max_new_tokens, room)),
            "repetition_penalty": request.repetition_penalty,
            "pad_token_id": eos,
            "stopping_criteria": StoppingCriteriaList([_CancelCriteria()]),
            "streamer": _Streamer(tokenizer, on_text),
        }
        if request.temperature > 0:
            kwargs.update(do_sample=True, temperature=request.temperature, top_p=request.top_p,
                          top_k=request.top_k)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        use_base = self._peft and not self._mix.active
        prompt_ids = prompt_ids.to(self.device)
        with torch.inference_mode(), (self._model.disable_adapter() if use_base
                                      else contextlib.nullcontext()):
            torch.manual_seed(seed)
            output = self._model.generate(input_ids=prompt_ids,
                                          attention_mask=torch.ones_like(prompt_ids), **kwargs)
        new_ids = output[0, prompt_ids.shape[1]:].tolist()
        return TextGenerationResult(prompt=request.prompt,
                                    text=tokenizer.decode(new_ids, skip_special_tokens=True),
                                    token_ids=tuple(int(i) for i in new_ids), seed=seed, mix=self._mix,
                                    cancelled=token.cancelled)

    def logits(self, text: str) -> Any:
        """Next-token logits for every position of ``text`` under the current mix (tests, checks)."""
        import contextlib

        import torch

        self._require_model()
        ids = self._tokenizer(text, return_tensors="pt").input_ids.to(self.device)
        use_base = self._peft and not self._mix.active
        with torch.inference_mode(), (self._model.disable_adapter() if use_base
                                      else contextlib.nullcontext()):
            return self._model(input_ids=ids).logits
