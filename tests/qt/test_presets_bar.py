"""Presets bar: save the mix (optionally prompt and settings), choose, rename, delete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lorastudio.core.engine.request import LoraSpec
from lorastudio.core.library.presets import PresetStore
from lorastudio.core.paths import DataDir
from lorastudio.qt.state.mix_state import MixState
from lorastudio.qt.widgets.generation_panel import GenerationPanel
from lorastudio.qt.widgets.mixer_panel import MixerPanel
from lorastudio.qt.widgets.presets_bar import PresetsBar, apply_preset


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PresetStore]:
    with PresetStore(DataDir(tmp_path / "data").ensure().catalog_db) as s:
        yield s


@pytest.fixture
def setup(qtbot, store: PresetStore, demo_data: DataDir):  # type: ignore[no-untyped-def]
    state = MixState()
    generation = GenerationPanel()
    mixer = MixerPanel(state)
    bar = PresetsBar(store, state, generation.settings)
    for w in (generation, mixer, bar):
        qtbot.addWidget(w)
    mixer.add_lora(demo_data.loras / "demo-ink-wash.safetensors")
    mixer.add_lora(demo_data.loras / "demo-neon-glow.safetensors")
    mixer.rows[0].weight.spin.setValue(0.6)
    mixer.rows[1].enabled.click()
    return bar, state, generation, mixer


def _mix(state: MixState) -> list[tuple[str, float, float | None, bool]]:
    return [(s.display_name, s.weight, s.te_weight, s.enabled) for s in state.mix.specs]


def test_save_then_choose_restores_the_mix(qtbot, setup) -> None:  # type: ignore[no-untyped-def]
    bar, state, generation, mixer = setup
    saved_mix = _mix(state)
    assert bar.combo.placeholderText() == "No presets yet"
    assert not bar.rename_button.isEnabled()
    bar.ask_save = lambda: ("Ink night", False)  # the dialog's answer
    bar.save_button.click()
    assert bar.names() == ["Ink night"]
    assert bar.current_name() == "Ink night"

    mixer.rows[0].remove_button.click()
    generation.prompt.setPlainText("keep this prompt")
    with qtbot.waitSignal(bar.preset_chosen) as chosen:
        bar.combo.activated.emit(0)
    preset = chosen.args[0]
    assert preset.name == "Ink night"
    assert preset.prompt is None
    assert apply_preset(preset, generation, state) == []
    assert _mix(state) == saved_mix == [("Ink Wash", 0.6, None, True), ("Neon Glow", 1.0, None, False)]
    assert generation.prompt.toPlainText() == "keep this prompt"  # a mix-only preset leaves the prompt


def test_prompt_and_settings_are_saved_when_asked(qtbot, setup) -> None:  # type: ignore[no-untyped-def]
    bar, state, generation, _mixer = setup
    generation.prompt.setPlainText("a temple, «dusk»")
    generation.negative.setPlainText("blurry")
    generation.steps.setValue(33)
    generation.cfg.setValue(4.5)
    generation.sampler.setCurrentText("DDIM")
    bar.ask_save = lambda: ("Temple", True)
    bar.save_button.click()
    generation.prompt.setPlainText("something else")
    generation.steps.setValue(5)
    generation.sampler.setCurrentText("Euler")
    with qtbot.waitSignal(bar.preset_chosen) as chosen:
        bar.choose("temple")
    apply_preset(chosen.args[0], generation, state)
    s = generation.settings()
    assert (s.prompt, s.negative_prompt, s.steps, s.cfg, s.sampler) == ("a temple, «dusk»", "blurry", 33, 4.5, "DDIM")


def test_collision_asks_and_refusal_keeps_the_old_preset(qtbot, setup) -> None:  # type: ignore[no-untyped-def]
    bar, _state, _generation, mixer = setup
    bar.ask_save = lambda: ("Ink night", False)
    bar.save_button.click()
    mixer.rows[0].remove_button.click()
    questions: list[str] = []
    bar.confirm = lambda q: questions.append(q) or False
    bar.ask_save = lambda: ("ink NIGHT", False)
    bar.save_button.click()
    assert "already exists" in questions[0]
    assert len(bar.store.load("Ink night").loras) == 2  # not replaced
    bar.confirm = lambda q: True
    bar.save_button.click()
    assert len(bar.store.load("Ink night").loras) == 1
    assert bar.names() == ["ink NIGHT"]  # replaced, under the spelling just typed


def test_rename_and_delete(qtbot, setup) -> None:  # type: ignore[no-untyped-def]
    bar, _state, _generation, _mixer = setup
    for name in ("A", "B"):
        bar.ask_save = lambda name=name: (name, False)
        bar.save_button.click()
    errors: list[str] = []
    bar.failed.connect(errors.append)
    bar.combo.setCurrentIndex(bar.combo.findText("A"))
    bar.ask_name = lambda title, current: "b"
    bar.rename_button.click()
    assert errors == ["A preset named 'B' already exists. Choose another name."]
    bar.ask_name = lambda title, current: "  Ink   night  "
    bar.rename_button.click()
    assert bar.names() == ["B", "Ink night"]
    assert bar.current_name() == "Ink night"

    bar.confirm = lambda q: False
    bar.delete_button.click()
    assert bar.names() == ["B", "Ink night"]
    bar.confirm = lambda q: "not touched" in q
    bar.delete_button.click()
    assert bar.names() == ["B"]
    assert bar.store.names() == ["B"]


def test_empty_mix_is_not_saved(qtbot, store: PresetStore) -> None:  # type: ignore[no-untyped-def]
    bar = PresetsBar(store, MixState())
    qtbot.addWidget(bar)
    errors: list[str] = []
    bar.failed.connect(errors.append)
    bar.ask_save = lambda: pytest.fail("no dialog for an empty mix")  # type: ignore[assignment]
    bar.save_button.click()
    assert errors == ["The mix is empty: add a LoRA before saving a preset."]


def test_moved_lora_found_by_name_missing_one_reported(qtbot, store: PresetStore, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from lorastudio.core.library.presets import Preset, PresetLora

    here = tmp_path / "new-place.safetensors"
    here.write_bytes(b"x")
    preset = Preset(
        "Old",
        (
            PresetLora(tmp_path / "old-place.safetensors", "Ink Wash", 0.5),
            PresetLora(tmp_path / "deleted.safetensors", "Gone", 0.7),
        ),
    )
    state = MixState()

    def resolve(name: str) -> LoraSpec | None:
        return LoraSpec(path=here, name="Ink Wash") if name == "Ink Wash" else None

    assert apply_preset(preset, None, state, resolve) == ["Gone"]
    assert [(s.path, s.weight) for s in state.mix.specs] == [(here, 0.5)]
