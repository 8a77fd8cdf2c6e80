"""The model page: files with sizes and checksums, relevance, and the model card made safe."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lorastudio.core.hub import kinds
from lorastudio.core.hub.connection import HubConnection, connection, prepare, translate
from lorastudio.core.hub.names import check_name, unsafe_reason
from lorastudio.core.hub.search import ModelSummary, summary_from_info

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".gif")
WEIGHT_EXTS = (".safetensors",)


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int | None
    sha256: str | None  # LFS files only
    blob_id: str | None  # git blob sha1 (what the Hub uses as etag for small files)
    relevant: bool  # worth installing (weights; or part of a pipeline)
    unsafe: str | None  # why the name is refused, or None

    @property
    def is_weights(self) -> bool:
        return self.path.lower().endswith(WEIGHT_EXTS)


@dataclass(frozen=True)
class ModelPage:
    summary: ModelSummary
    revision: str
    commit: str
    files: tuple[HubFile, ...]
    card_markdown: str  # raw (untrusted) README text; render with safe_markdown()
    preview_file: str  # repo path of the preview image, '' when none

    @property
    def kind(self) -> str:
        return self.summary.kind

    @property
    def is_pipeline(self) -> bool:
        return self.summary.kind == kinds.PIPELINE

    def file(self, path: str) -> HubFile | None:
        return next((f for f in self.files if f.path == path), None)

    def default_install(self) -> list[str]:
        """The file(s) one click installs: the whole pipeline, or the main weights file."""
        if self.is_pipeline:
            return [f.path for f in self.files if f.relevant]
        weights = [f for f in self.files if f.is_weights and not f.unsafe]
        if not weights:
            return []
        # A repo with variants: prefer files at the root, then the largest (the full model).
        weights.sort(key=lambda f: ("/" in f.path, -(f.size or 0), f.path))
        return [weights[0].path]


def _relevant(path: str, pipeline: bool) -> bool:
    if pipeline:
        return not path.lower().endswith((*IMAGE_EXTS, ".md")) and not path.startswith(".")
    return path.lower().endswith(WEIGHT_EXTS)


def model_page(repo_id: str, revision: str = "main", *, conn: HubConnection | None = None) -> ModelPage:
    """Fetch a repo's file list (with sizes and sha256) and its model card."""
    from huggingface_hub import HfApi, hf_hub_download

    conn = conn or connection()
    prepare(conn)
    api = HfApi(endpoint=conn.endpoint, token=conn.token or False)
    try:
        info = api.model_info(repo_id, revision=revision, files_metadata=True)
    except Exception as error:
        raise translate(error, repo_id) from error
    names = [s.rfilename for s in info.siblings or ()]
    summary = summary_from_info(info)
    kind = kinds.repo_kind(summary.tags, info.library_name, names)
    summary = ModelSummary(**{**summary.__dict__, "kind": kind})
    pipeline = kind == kinds.PIPELINE
    files = tuple(
        HubFile(path=s.rfilename, size=s.size, sha256=s.lfs.sha256 if s.lfs else None, blob_id=s.blob_id,
                relevant=_relevant(s.rfilename, pipeline), unsafe=unsafe_reason(s.rfilename))
        for s in info.siblings or ())
    card = ""
    readme = next((n for n in names if n.lower() == "readme.md"), None)
    if readme:
        try:
            path = hf_hub_download(repo_id, readme, revision=info.sha, endpoint=conn.endpoint,
                                   token=conn.token or False, cache_dir=conn.cache_dir)
            card = Path(path).read_text("utf-8", errors="replace")
        except Exception:
            card = ""  # a page without its card is still useful
    return ModelPage(summary=summary, revision=revision, commit=info.sha or "", files=files,
                     card_markdown=card, preview_file=pick_preview(names, card))


def pick_preview(names: list[str], card: str) -> str:
    """An image the card shows (when it is a repo file), else the first image in the repo."""
    targets: list[tuple[str, str]] = _IMAGE.findall(card)  # two groups: alt text, target
    for target in targets:
        path = target[1].strip().split(" ")[0].removeprefix("./")
        if path in names and path.lower().endswith(IMAGE_EXTS):
            return path
    images = sorted(n for n in names if n.lower().endswith(IMAGE_EXTS) and not unsafe_reason(n))
    return images[0] if images else ""


def fetch_repo_file(page: ModelPage, path: str, *, conn: HubConnection | None = None) -> Path:
    """Download one small file (preview, card image) into the shared HF cache."""
    from huggingface_hub import hf_hub_download

    conn = conn or connection()
    prepare(conn)
    if unsafe_reason(path):
        check_name(path)
    try:
        return Path(hf_hub_download(page.summary.repo_id, path, revision=page.commit or page.revision,
                                    endpoint=conn.endpoint, token=conn.token or False,
                                    cache_dir=conn.cache_dir))
    except Exception as error:
        raise translate(error, f"{page.summary.repo_id}/{path}") from error


# -- the card: untrusted Markdown -----------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---\s*\n.*?\n---\s*\n", re.S)
_BLOCK_TAGS = re.compile(r"<(script|style|iframe|object|embed|svg|math|template)\b.*?(</\1\s*>|\Z)", re.S | re.I)
_COMMENT = re.compile(r"<!--.*?(-->|\Z)", re.S)
_TAG = re.compile(r"</?[A-Za-z][^>]*>")
# Link targets may hold one level of parentheses, e.g. javascript:alert(1).
_TARGET = r"\(((?:[^()]|\([^()]*\))*)\)"
_IMAGE = re.compile(r"!\[([^\]]*)\]" + _TARGET)
_LINK = re.compile(r"(?<!!)\[([^\]]*)\]" + _TARGET)
_AUTOLINK = re.compile(r"<(?!https?://)[a-z][a-z0-9+.-]*:[^>]*>", re.I)


def card_images(markdown: str, repo_files: list[str]) -> list[str]:
    """Repo-local images the card shows (the only ones ever fetched, and only when allowed)."""
    out = []
    for _alt, target in _IMAGE.findall(markdown):
        path = target.strip().split(" ")[0].removeprefix("./")
        if path in repo_files and path.lower().endswith(IMAGE_EXTS) and path not in out:
            out.append(path)
    return out


def safe_markdown(markdown: str, local_images: dict[str, Path] | None = None) -> str:
    """Markdown with no raw HTML, no script links and no remote images.

    An image stays only when ``local_images`` maps its repo path to a downloaded file (the user
    allowed network images); every other image becomes its alt text.
    """
    local_images = local_images or {}
    text = _FRONT_MATTER.sub("", markdown.replace("\r\n", "\n"))
    text = _COMMENT.sub("", text)
    text = _BLOCK_TAGS.sub("", text)
    text = _TAG.sub("", text)
    text = _AUTOLINK.sub("", text)

    def image(m: re.Match[str]) -> str:
        alt = _plain(m.group(1))
        path = m.group(2).strip().split(" ")[0].removeprefix("./")
        local = local_images.get(path)
        if local is not None:
            return f"![{alt}]({local.resolve().as_uri()})"
        return f"*[image: {alt or PurePosixPath(path).name or 'image'}]*"

    def link(m: re.Match[str]) -> str:
        label, target = m.group(1), m.group(2).strip().split(" ")[0]
        if re.match(r"^https?://", target, re.I):
            return f"[{label}]({target})"
        return label  # javascript:, data:, file:, relative repo links: plain text

    text = _IMAGE.sub(image, text)
    return _LINK.sub(link, text)


def _plain(text: str) -> str:
    return re.sub(r"[\[\]()*_`]", "", text)
