"""Search the Hub for LoRAs, checkpoints and pipelines."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from lorastudio.core.hub import kinds
from lorastudio.core.hub.connection import HubConnection, connection, prepare, translate

Sort = Literal["downloads", "likes", "last_modified"]
_SORTS: tuple[Sort, ...] = ("downloads", "likes", "last_modified")
# Server-side filter per kind; results are re-checked client-side with kinds.repo_kind.
_KIND_FILTER = {kinds.LORA: "lora", kinds.PIPELINE: "diffusers", kinds.CHECKPOINT: None}


@dataclass(frozen=True)
class ModelSummary:
    """One search result, as shown in the results list."""

    repo_id: str
    author: str
    downloads: int
    likes: int
    base_model: str
    license: str
    gated: bool
    kind: str  # kinds.LORA | kinds.CHECKPOINT | kinds.PIPELINE
    tags: tuple[str, ...]
    last_modified: datetime | None

    @property
    def name(self) -> str:
        return self.repo_id.split("/", 1)[-1]


def summary_from_info(info: Any) -> ModelSummary:
    tags = tuple(info.tags or ())
    card = info.card_data.to_dict() if getattr(info, "card_data", None) is not None else {}
    gated = info.gated
    return ModelSummary(
        repo_id=info.id,
        author=info.author or info.id.split("/")[0],
        downloads=int(info.downloads or 0),
        likes=int(info.likes or 0),
        base_model=kinds.base_model_of(tags, card.get("base_model")),
        license=kinds.license_of(tags, card.get("license")),
        gated=bool(gated) and gated != "false",
        kind=kinds.repo_kind(tags, info.library_name),
        tags=tags,
        last_modified=info.last_modified,
    )


def search_models(text: str = "", *, kind: str | None = None, base_model: str | None = None,
                  sort: Sort = "downloads", limit: int = 50, conn: HubConnection | None = None
                  ) -> list[ModelSummary]:
    """Search the Hub. ``kind`` is one of kinds.LORA/CHECKPOINT/PIPELINE, ``base_model`` a repo id."""
    from huggingface_hub import HfApi

    if sort not in _SORTS:
        raise ValueError(f"sort must be one of {_SORTS}")
    conn = conn or connection()
    prepare(conn)
    filters = [f for f in (_KIND_FILTER.get(kind or ""), f"base_model:{base_model}" if base_model else None) if f]
    api = HfApi(endpoint=conn.endpoint, token=conn.token or False)
    try:
        infos = list(api.list_models(
            search=text.strip() or None, filter=filters or None, sort=sort, limit=limit,
            expand=["author", "downloads", "likes", "lastModified", "tags", "gated", "library_name",
                    "pipeline_tag", "cardData"]))
    except Exception as error:
        raise translate(error, "Searching the Hub") from error
    results = [summary_from_info(i) for i in infos]
    if kind:
        results = [r for r in results if r.kind == kind]
    return results
