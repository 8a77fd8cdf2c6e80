"""GenerationRequest → ComfyUI API-format workflow, checked node by node; server file matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorastudio.core.backend.comfyui.errors import RemoteMissingFiles, RemoteUnsupported
from lorastudio.core.backend.comfyui.models import (
    ServerModels,
    find_on_server,
    match_local,
    parse_object_info,
    resolve_names,
)
from lorastudio.core.backend.comfyui.workflow import SAMPLERS, ServerNames, build_workflow, check_exact
from lorastudio.core.engine.request import GenerationRequest, LoraSpec
from lorastudio.core.engine.schedulers import SAMPLERS as LOCAL_SAMPLERS

MODEL = Path("/models/dreamshaper_8.safetensors")
A = Path("/loras/style_a.safetensors")
B = Path("/loras/detail_b.safetensors")
C = Path("/loras/off_c.safetensors")


def two_lora_request(**kw: object) -> GenerationRequest:
    base: dict[str, object] = dict(
        model=MODEL, prompt="a cat, watercolor", negative_prompt="blurry", seed=1234, steps=25, cfg=6.5,
        width=512, height=768, sampler="DPM++ 2M Karras", clip_skip=2,
        loras=(LoraSpec(A, 0.8), LoraSpec(C, 1.0, enabled=False), LoraSpec(B, 0.6, te_weight=0.3)))
    base.update(kw)
    return GenerationRequest(**base)  # type: ignore[arg-type]


def test_two_lora_mix_node_by_node() -> None:
    names = ServerNames("sd15/dreamshaper_8.safetensors", ("style_a.safetensors", "sub/detail_b.safetensors"))
    wf = build_workflow(two_lora_request(), names, seed=1235)
    g = wf.graph
    assert list(g) == [str(i) for i in range(1, 11)]
    assert g["1"] == {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15/dreamshaper_8.safetensors"}}
    # one LoraLoader per *enabled* row, chained: model and clip flow through both
    assert g["2"] == {"class_type": "LoraLoader", "inputs": {
        "model": ["1", 0], "clip": ["1", 1], "lora_name": "style_a.safetensors",
        "strength_model": 0.8, "strength_clip": 0.8}}
    assert g["3"] == {"class_type": "LoraLoader", "inputs": {
        "model": ["2", 0], "clip": ["2", 1], "lora_name": "sub/detail_b.safetensors",
        "strength_model": 0.6, "strength_clip": 0.3}}
    assert g["4"] == {"class_type": "CLIPSetLastLayer", "inputs": {"clip": ["3", 1], "stop_at_clip_layer": -2}}
    assert g["5"] == {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 0], "text": "a cat, watercolor"}}
    assert g["6"] == {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 0], "text": "blurry"}}
    assert g["7"] == {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 1}}
    assert g["8"] == {"class_type": "KSampler", "inputs": {
        "model": ["3", 0], "positive": ["5", 0], "negative": ["6", 0], "latent_image": ["7", 0],
        "seed": 1235, "steps": 25, "cfg": 6.5, "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0}}
    assert g["9"] == {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["1", 2]}}
    assert g["10"] == {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": "LoRAStudio"}}
    assert wf.output_node == "10"


def test_a_chosen_vae_gets_a_vae_loader_and_no_loras_wire_the_checkpoint() -> None:
    req = two_lora_request(loras=(), vae=Path("/vae/ft-mse.safetensors"), clip_skip=1, sampler="Euler a")
    g = build_workflow(req, ServerNames("m.safetensors", (), "ft-mse.safetensors"), seed=1).graph
    kinds = [n["class_type"] for n in g.values()]
    assert "LoraLoader" not in kinds
    vae_node = next(k for k, n in g.items() if n["class_type"] == "VAELoader")
    assert g[vae_node]["inputs"] == {"vae_name": "ft-mse.safetensors"}
    decode = next(n for n in g.values() if n["class_type"] == "VAEDecode")
    assert decode["inputs"]["vae"] == [vae_node, 0]
    sampler = next(n for n in g.values() if n["class_type"] == "KSampler")
    assert sampler["inputs"]["model"] == ["1", 0]
    assert (sampler["inputs"]["sampler_name"], sampler["inputs"]["scheduler"]) == ("euler_ancestral", "normal")
    clip = next(n for n in g.values() if n["class_type"] == "CLIPSetLastLayer")
    assert clip["inputs"] == {"clip": ["1", 1], "stop_at_clip_layer": -1}


def test_every_local_sampler_has_a_comfyui_equivalent() -> None:
    assert set(SAMPLERS) == set(LOCAL_SAMPLERS)


@pytest.mark.parametrize(("spec", "words"), [
    (LoraSpec(A, blocks=(1.0, 0.0) + (1.0,) * 15), "style_a uses per-block weights"),
    (LoraSpec(A, stop=0.5), "start/stop"),
])
def test_inexact_settings_are_refused_with_one_sentence(spec: LoraSpec, words: str) -> None:
    with pytest.raises(RemoteUnsupported, match=words) as err:
        check_exact(two_lora_request(loras=(spec,)))
    assert str(err.value).count(". ") == 0


def test_block_weights_all_at_one_and_disabled_rows_are_not_refused() -> None:
    check_exact(two_lora_request(loras=(LoraSpec(A, blocks=(1.0,) * 17), LoraSpec(B, stop=0.2, enabled=False))))


def test_object_info_options_in_both_shapes_and_garbage_ignored() -> None:
    info = {
        "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["a.safetensors", 3, None, "x" * 5000], {}]}}},
        "LoraLoader": {"input": {"required": {"lora_name": ["COMBO", {"options": ["l.safetensors"]}]}}},
        "KSampler": {"input": "nonsense"},
    }
    models = parse_object_info(info)
    assert models.checkpoints == ("a.safetensors",)
    assert models.loras == ("l.safetensors",)
    assert models.samplers == ()
    with pytest.raises(ValueError):
        parse_object_info([1, 2])


def test_local_files_match_server_names_by_file_name_then_stem() -> None:
    names = ("SD15/DreamShaper_8.safetensors", "style_a.ckpt", "other.safetensors")
    assert find_on_server(MODEL, names) == "SD15/DreamShaper_8.safetensors"
    assert find_on_server(A, names) == "style_a.ckpt"
    assert find_on_server(Path("/pipelines/other"), names) == "other.safetensors"  # a diffusers folder
    assert find_on_server(B, names) is None
    assert match_local([MODEL, B], names) == {MODEL: "SD15/DreamShaper_8.safetensors"}


def _server(**kw: object) -> ServerModels:
    from lorastudio.core.backend.comfyui.models import REQUIRED_NODES

    base: dict[str, object] = dict(checkpoints=("dreamshaper_8.safetensors",), loras=("style_a.safetensors",),
                                   samplers=("dpmpp_2m", "euler"), schedulers=("normal", "karras"),
                                   nodes=frozenset(REQUIRED_NODES))
    base.update(kw)
    return ServerModels(**base)  # type: ignore[arg-type]


def test_missing_files_are_named_in_one_refusal() -> None:
    with pytest.raises(RemoteMissingFiles, match=r"box lacks detail_b\.safetensors;"):
        resolve_names(two_lora_request(), _server(), "box")
    names = resolve_names(two_lora_request(loras=(LoraSpec(A, 0.5),)), _server(), "box")
    assert names == ServerNames("dreamshaper_8.safetensors", ("style_a.safetensors",), None)


def test_a_server_without_the_sampler_or_nodes_is_refused() -> None:
    with pytest.raises(RemoteUnsupported, match="does not offer the sampler 'DPM\\+\\+ 2M Karras'"):
        resolve_names(two_lora_request(loras=()), _server(schedulers=("normal",)), "box")
    from lorastudio.core.backend.comfyui.models import REQUIRED_NODES

    without = frozenset(REQUIRED_NODES) - {"LoraLoader"}
    with pytest.raises(RemoteUnsupported, match=r"at box lacks the node types LoraLoader\.$"):
        resolve_names(two_lora_request(loras=()), _server(nodes=without), "box")
