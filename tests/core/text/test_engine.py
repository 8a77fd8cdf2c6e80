"""TextEngine: a mix generates exactly what PEFT itself generates; weight 0 is the base model."""

from __future__ import annotations

from pathlib import Path

import torch

from lorastudio.core.cancel import CancelToken
from lorastudio.core.text.engine import TextEngine
from lorastudio.core.text.mix import TextGenerationRequest, TextMix

PROMPT = "the cat "


def _reference_generate(model: object, tokenizer: object, seed: int, **kwargs: object) -> list[int]:
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids  # type: ignore[operator]
    torch.manual_seed(seed)
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),  # type: ignore[attr-defined]
                             pad_token_id=tokenizer.eos_token_id, **kwargs)  # type: ignore[attr-defined]
    return out[0, ids.shape[1]:].tolist()


SAMPLING = {"max_new_tokens": 24, "do_sample": True, "temperature": 0.9, "top_p": 0.95, "top_k": 50,
            "repetition_penalty": 1.1}


def _request(seed: int = 7) -> TextGenerationRequest:
    return TextGenerationRequest(PROMPT, max_new_tokens=24, temperature=0.9, top_p=0.95, top_k=50,
                                 repetition_penalty=1.1, seed=seed)


def test_mix_generation_equals_peft(tiny_lm: Path, tiny_adapters: tuple[Path, Path]) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cats, dogs = tiny_adapters
    engine = TextEngine()
    engine.load_model(tiny_lm)
    engine.set_mix(TextMix.of({str(cats): 0.7, str(dogs): 1.3}))
    result = engine.generate(_request())

    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_lm), str(cats),
                                          adapter_name="cats")
    reference.load_adapter(str(dogs), adapter_name="dogs")
    reference.add_weighted_adapter(["cats", "dogs"], [0.7, 1.3], "mix", combination_type="cat")
    reference.set_adapter("mix")
    reference.eval()
    expected = _reference_generate(reference, tokenizer, 7, **SAMPLING)
    assert list(result.token_ids) == expected
    assert result.text == tokenizer.decode(expected, skip_special_tokens=True)
    # and the logits agree too, which the sampled tokens only imply
    ids = tokenizer(PROMPT * 3, return_tensors="pt").input_ids
    with torch.inference_mode():
        torch.testing.assert_close(engine.logits(PROMPT * 3), reference(input_ids=ids).logits)


def test_weight_zero_equals_base(tiny_lm: Path, tiny_adapters: tuple[Path, Path]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_lm).eval()
    expected = _reference_generate(base, AutoTokenizer.from_pretrained(tiny_lm), 3, **SAMPLING)
    engine = TextEngine()
    engine.load_model(tiny_lm)
    engine.set_mix(TextMix.of({str(tiny_adapters[0]): 1.0, str(tiny_adapters[1]): 1.0}))
    with_adapters = engine.logits(PROMPT)
    engine.set_mix(TextMix.of({str(tiny_adapters[0]): 0.0, str(tiny_adapters[1]): 0.0}))
    assert list(engine.generate(_request(3)).token_ids) == expected
    assert not torch.allclose(with_adapters, engine.logits(PROMPT))
    engine.set_mix(TextMix())
    assert list(engine.generate(_request(3)).token_ids) == expected


def test_slider_changes_never_reload(tiny_lm: Path, tiny_adapters: tuple[Path, Path]) -> None:
    cats, dogs = (str(p) for p in tiny_adapters)
    engine = TextEngine()
    engine.load_model(tiny_lm)
    mix = TextMix.of({cats: 1.0, dogs: 0.5})
    engine.set_mix(mix)
    for weight in (0.2, -0.5, 0.0, 1.5):
        mix = mix.with_weight(cats, weight)
        engine.set_mix(mix)
        engine.generate(_request().updated(max_new_tokens=2))
    engine.set_mix(mix)  # unchanged: nothing rebuilt
    engine.load_model(tiny_lm)  # same folder: kept
    assert (engine.model_loads, engine.adapter_loads, engine.mix_builds) == (1, 2, 5)
    # only the two adapters and the current combination stay in memory
    assert len(engine.peft_model().peft_config) == 3


def test_streaming_and_seed(tiny_lm: Path) -> None:
    engine = TextEngine()
    engine.load_model(tiny_lm)
    chunks: list[str] = []
    first = engine.generate(_request(11).updated(prompt="hello"), on_text=chunks.append)
    assert len(chunks) >= 5
    assert "".join(chunks) == first.text
    assert engine.generate(_request(11).updated(prompt="hello")).token_ids == first.token_ids
    greedy = _request().updated(prompt="hello", temperature=0.0)
    assert engine.generate(greedy.updated(seed=1)).token_ids == engine.generate(greedy.updated(seed=2)).token_ids
    unseeded = engine.generate(_request().updated(prompt="hello", seed=None))
    assert engine.generate(_request(unseeded.seed).updated(prompt="hello")).token_ids == unseeded.token_ids


def test_cancel_stops_generation(tiny_lm: Path) -> None:
    engine = TextEngine()
    engine.load_model(tiny_lm)
    token = CancelToken()
    chunks: list[str] = []

    def on_text(text: str) -> None:
        chunks.append(text)
        if len(chunks) == 3:
            token.cancel()

    result = engine.generate(_request().updated(max_new_tokens=60), on_text=on_text, cancel=token)
    assert result.cancelled
    assert len(result.token_ids) < 60
