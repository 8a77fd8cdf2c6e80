"""CLI subcommands of the model library: ``scan`` and ``info``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from lorastudio.core.errors import BadModelFile
from lorastudio.core.library.catalog import Catalog, CatalogRecord, clean_text, display_path
from lorastudio.core.library.scan_pool import scan_parallel
from lorastudio.core.library.scanner import default_roots, hash_pending
from lorastudio.core.metadata.detect import FileInfo, inspect_path
from lorastudio.core.metadata.hashes import FileHashes, embedded_hash_matches, hash_file
from lorastudio.core.metadata.untrusted import terminal_text
from lorastudio.core.paths import DataDir
from lorastudio.core.settings import load_settings
from lorastudio.core.types import ModelKind


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's subcommands."""
    p = sub.add_parser("scan", help="index model folders and print one record per file")
    p.add_argument(
        "roots",
        nargs="*",
        metavar="ROOT",
        help="folders to scan (default: the data dir's models folder and the external roots)",
    )
    p.add_argument("--json", action="store_true", help="print JSON Lines (one object per file)")
    p.add_argument("--hash", action="store_true", help="also compute missing SHA-256 / addnet hashes")
    p.set_defaults(func=run_scan)
    p = sub.add_parser("info", help="print everything known about one model file or folder")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--hash", action="store_true", help="compute the hashes if the catalog lacks them")
    p.set_defaults(func=run_info)


def _as_dict(
    info: FileInfo, record: CatalogRecord | None = None, hashes: FileHashes | None = None, full: bool = False
) -> dict[str, Any]:
    sha = hashes.sha256 if hashes else record.sha256 if record else None
    addnet = hashes.addnet if hashes else record.addnet if record else None
    out: dict[str, Any] = {
        "path": display_path(info.path),
        "kind": info.kind.value,
        "format": info.lora_format.value,
        "network": info.network,
        "base": info.base.value,
        "status": info.status,
        "error": info.error,
        "title": info.title,
        "size": info.size,
        "trigger_words": list(record.trigger_words if record else info.trigger_words),
        "sha256": sha,
        "autov2": sha[:10] if sha else None,
        "addnet": addnet,
        "addnet_short": addnet[:12] if addnet else None,
    }
    if record is not None:
        out["missing"] = record.missing
    if full:
        out.update(
            {
                "variant": info.variant,
                "base_signal": info.base_signal,
                "rank": info.rank,
                "alpha": info.alpha,
                "trains_unet": info.trains_unet,
                "trains_text_encoder": info.trains_text_encoder,
                "preferred_weight": record.preferred_weight if record else info.preferred_weight,
                "description": info.description,
                "preview": display_path(info.preview) if info.preview else None,
                "tensor_count": info.tensor_count,
                "hub": info.hub,
                "metadata": info.metadata,
                "embedded_hash_ok": record.embedded_hash_ok if record else None,
            }
        )
        if record is not None:
            u = record.user
            out["user"] = {
                "favorite": u.favorite,
                "tags": list(u.tags),
                "notes": u.notes,
                "preferred_weight": u.preferred_weight,
                "trigger_words": list(u.trigger_words),
                "rating": u.rating,
            }
    return out


def _json_safe(value: Any) -> Any:
    """JSON that every parser accepts: no NaN/Infinity (null instead), no lone surrogates."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _dumps(d: dict[str, Any], indent: int | None = None) -> str:
    return json.dumps(_json_safe(d), indent=indent, allow_nan=False)


def _line(d: dict[str, Any], variant: str = "") -> str:
    words = ", ".join(d["trigger_words"][:5])
    hashes = f" [{d['autov2']}]" if d["autov2"] else ""
    status = d["status"] if d["status"] == "ok" else f"{d['status']}: {d['error']}"
    if d.get("missing"):
        status = "missing"
    kind = d["kind"] + (f"/{d['format']}" if d["format"] != "none" else "")
    base = d["base"]
    if ModelKind(d["kind"]).is_text:  # no image base: say what it is for (the Text page's model)
        base = "text"
        if variant:
            words = f"{'base model' if d['kind'] == ModelKind.PEFT_ADAPTER else 'architecture'}: {variant}"
    text = f"{kind:<17} {base:<8} {status:<6} {d['path']}{hashes}"
    # File names and metadata may hold newlines and terminal escapes: shown as \n, \x1b, never run.
    if words and not ModelKind(d["kind"]).is_text:
        words = f"triggers: {words}"
    return terminal_text(text + (f"  {words}" if words else ""))


def run_scan(args: argparse.Namespace, data_dir: DataDir) -> int:
    data_dir.ensure()
    settings = load_settings(data_dir.settings_file)
    roots = [Path(r).expanduser().resolve() for r in args.roots] or default_roots(data_dir, settings.external_roots)
    for r in roots:
        if not r.is_dir():
            what = "does not exist" if not r.exists() else "is not a folder"
            raise BadModelFile(f"{terminal_text(display_path(r))} {what}.")
    with Catalog(data_dir.catalog_db) as catalog:
        result = scan_parallel(catalog, roots)  # new and changed files are read on every core
        if args.hash:
            hash_pending(catalog)
        records = catalog.records_under(roots)
    for record in records:
        d = _as_dict(record.info, record)
        print(_dumps(d) if args.json else _line(d, record.info.variant))
    if not args.json:
        print(
            f"{len(records)} entries ({result.added} new, {result.updated} changed, {result.missing} missing, "
            f"{result.errors} unreadable) in {result.seconds:.2f} s"
        )
        if result.skipped:
            print(result.skipped_summary())
    elif result.skipped:  # stdout stays one JSON object per file; the count goes to stderr
        print(result.skipped_summary(), file=sys.stderr)
    return 0


def run_info(args: argparse.Namespace, data_dir: DataDir) -> int:
    path = Path(args.file).expanduser().absolute()
    if not path.exists():
        raise BadModelFile(f"{terminal_text(display_path(path))} does not exist.")
    info = inspect_path(path)
    record: CatalogRecord | None = None
    if data_dir.catalog_db.exists():
        with Catalog(data_dir.catalog_db) as catalog:
            record = catalog.get(path) or catalog.get(path.resolve())
    hashes: FileHashes | None = None
    if args.hash and not (record and record.sha256) and path.is_file() and info.size > 0:
        hashes = hash_file(path)
    d = _as_dict(info, record, hashes, full=True)
    if hashes is not None:
        d["embedded_hash_ok"] = embedded_hash_matches(info.metadata, hashes)
    if args.json:
        print(_dumps(d, indent=2))
        return 0
    for key, value in d.items():
        if key in ("metadata", "user", "hub") or value in (None, "", [], {}):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        print(terminal_text(f"{key:>20}: {shown}"))
    for section in ("user", "hub"):
        if d.get(section):
            print(terminal_text(f"{section:>20}: {_dumps(d[section])}"))
    if d["metadata"]:
        print(f"{'metadata':>20}:")
        for k, v in d["metadata"].items():
            short = v if len(v) <= 200 else v[:200] + "…"
            print(terminal_text(f"{'':>22}{k}: {short}"))
    return 0
