"""The session: everything the window shows and edits, without Qt.

``SessionModel`` holds the generation parameters, the LoRA mix, the settings store, the library
index and the job queue; widgets bind to these and the main window only composes them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lorastudio.core.engine.memory import MemoryOptions
from lorastudio.core.engine.mix import LoraMix, PromptLora, extract_prompt_loras, merge_prompt_loras
from lorastudio.core.engine.request import GenerationRequest
from lorastudio.core.engine.restore import LibraryLora, LibraryModel, RestorePlan, read_plan, resolve_model
from lorastudio.core.errors import LoraStudioError
from lorastudio.core.messages import Message, MessageKind, warning
from lorastudio.core.paths import DataDir
from lorastudio.core.session.library_index import LibraryIndex
from lorastudio.core.session.observable import Event, Observable
from lorastudio.core.session.params import ParamsModel
from lorastudio.core.session.queue import Job, JobQueue
from lorastudio.core.settings import SettingsStore, settings_store


class NoModelChosen(LoraStudioError):
    """Generate was asked for without a model."""


class SessionModel:
    """Events: ``message`` (Message for the notice area); ``library_changed`` (LibraryIndex).
    Observables: ``params``, ``mix``; the settings store and the queue have their own."""

    def __init__(self, data: DataDir, settings: SettingsStore | None = None,
                 queue: JobQueue | None = None) -> None:
        self.data = data
        self.settings = settings or settings_store(data.settings_file)
        self.params = ParamsModel()
        self.mix: Observable[LoraMix] = Observable(LoraMix())
        self.library = LibraryIndex()
        self.queue = queue if queue is not None else JobQueue(data.queue_file)
        self.message: Event[Message] = Event()
        self.library_changed: Event[LibraryIndex] = Event()
        self._synced_tags: list[PromptLora] = []  # the prompt tags last put into the mix

    # -- library -------------------------------------------------------------------------------
    def set_library(self, index: LibraryIndex) -> None:
        self.library = index
        self.library_changed.emit(index)

    # -- requests ------------------------------------------------------------------------------
    def memory_options(self) -> MemoryOptions:
        s = self.settings.value
        return MemoryOptions(attention_slicing=s.attention_slicing, vae_tiling=s.vae_tiling,
                             cpu_offload=s.cpu_offload)

    def build_request(self) -> GenerationRequest:
        """The frozen request for the current parameters and mix.

        ``<lora:name:weight>`` tags in the prompt move into the mix (the prompt keeps its words);
        names not in the library are reported in one warning and left out. Raises NoModelChosen.
        """
        p = self.params.value
        if p.model is None:
            raise NoModelChosen("Pick a model first (or create the demo library from the library panel).")
        prompt, tags = extract_prompt_loras(p.prompt.strip())
        if tags:
            mix, missing = merge_prompt_loras(self.mix.value, tags, self.library.resolve_lora)
            self.mix.set(mix)
            self.params.update(prompt=prompt)
            if missing:
                self.message.emit(warning(f"Not in the library: {', '.join(missing)}. Generating without them.",
                                          MessageKind.LORA_MISSING))
        seed = p.resolved_seed()
        self.params.last_seed = seed
        return GenerationRequest(
            model=p.model, prompt=prompt, negative_prompt=p.negative_prompt.strip(), loras=self.mix.value.specs,
            seed=seed, steps=p.steps, cfg=p.cfg, width=p.width, height=p.height, sampler=p.sampler,
            clip_skip=p.clip_skip, batch_count=p.batch_count, vae=p.vae, preview_every=max(1, p.steps // 10),
            memory=self.memory_options()).validate()  # out-of-range settings: one InvalidRequest sentence

    def sync_prompt_loras(self) -> list[str]:
        """Add/update mix rows for the complete ``<lora:...>`` tags in the prompt while it is typed;
        the prompt keeps its tags (they move out at build_request). Only a change in the tags
        touches the mix, so a slider moved after typing is not reset by the next keystroke.
        Returns the tag names that are not in the library."""
        _, tags = extract_prompt_loras(self.params.value.prompt)
        if tags == self._synced_tags:
            return []
        self._synced_tags = tags
        if not tags:
            return []
        mix, missing = merge_prompt_loras(self.mix.value, tags, self.library.resolve_lora)
        if mix != self.mix.value:
            self.mix.set(mix)
        return missing

    def enqueue_generation(self) -> Job:
        """Build the request and add it to the queue (runs when the jobs before it are done)."""
        return self.queue.add(self.build_request())

    # -- restore -------------------------------------------------------------------------------
    def apply_restore_plan(self, plan: RestorePlan, models: list[LibraryModel] | None = None) -> None:
        """Put a plan into the parameters and the mix; values the image lacks stay as they are."""
        current = self.params.value
        model = resolve_model(plan, models if models is not None else self.library.restore_library()[1])
        self.params.set(replace(
            current,
            model=model or current.model,
            prompt=plan.prompt,
            negative_prompt=plan.negative_prompt,
            seed=plan.seed if plan.seed is not None else current.seed,
            steps=plan.steps or current.steps,
            cfg=plan.cfg if plan.cfg is not None else current.cfg,
            width=plan.width or current.width,
            height=plan.height or current.height,
            sampler=plan.sampler or current.sampler,
            clip_skip=plan.clip_skip,
        ))
        self.mix.set(plan.mix)

    def restore_image(self, path: Path, library: tuple[list[LibraryLora], list[LibraryModel]] | None = None
                      ) -> RestorePlan:
        """Prompt, settings and mix from an image's infotext; ImageMetadataError when it has none."""
        loras, models = library if library is not None else self.library.restore_library()
        plan = read_plan(path, loras)
        self.apply_restore_plan(plan, models)
        return plan
