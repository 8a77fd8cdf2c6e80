"""A1111 infotext: the ``parameters`` PNG text chunk that A1111, Civitai, Fooocus and others read.

Layout (A1111 ``create_infotext``): the prompt, then ``Negative prompt: ...`` when set, then one line
``Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: ..., ...``.
Values holding ``,`` ``:`` or a newline are JSON-quoted. Values that are JSON objects or lists
(the Civitai extension's ``Hashes: {...}``, Civitai's ``Civitai resources: [...]``) are written
raw, as A1111 does, and read back whole (A1111's own regex would cut them at the first comma).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# A1111 infotext_utils.re_param, split in two so JSON object/list values can be read whole.
_KEY = re.compile(r"\s*(\w[\w \-/]+):\s*")
_QUOTED = re.compile(r'"(?:\\.|[^\\"])+"')
_NEGATIVE = "Negative prompt:"
_JSON = json.JSONDecoder()


def _split_pairs(line: str) -> list[tuple[str, str]]:
    """``key: value`` pairs of a parameter line, with quoted values JSON-unquoted."""
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(line):
        m = _KEY.search(line, pos)
        if m is None:
            break
        key, start = m.group(1).strip(), m.end()
        value: str | None = None
        end = start
        if start < len(line) and line[start] in "{[":
            try:
                _, stop = _JSON.raw_decode(line, start)
            except ValueError:
                pass
            else:
                value, end = line[start:stop], stop
        elif start < len(line) and line[start] == '"':
            q = _QUOTED.match(line, start)
            if q is not None and re.match(r"\s*(,|$)", line[q.end() :]):
                try:
                    value = json.loads(q.group(0))
                except ValueError:
                    value = q.group(0)[1:-1]
                end = q.end()
        if value is None:  # plain value: up to the next comma
            comma = line.find(",", start)
            end = len(line) if comma < 0 else comma
            value = line[start:end].strip()
        pairs.append((key, value))
        comma = line.find(",", end)
        pos = len(line) if comma < 0 else comma + 1
    return pairs


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Infotext:
    prompt: str = ""
    negative_prompt: str = ""
    params: dict[str, str] = field(default_factory=dict)

    def get_int(self, key: str, default: int | None = None) -> int | None:
        try:
            return int(float(self.params[key]))
        except (KeyError, ValueError, OverflowError):
            return default

    def get_float(self, key: str, default: float | None = None) -> float | None:
        try:
            return float(self.params[key])
        except (KeyError, ValueError):
            return default

    @property
    def size(self) -> tuple[int, int] | None:
        m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", self.params.get("Size", ""))
        return (int(m.group(1)), int(m.group(2))) if m else None

    @property
    def lora_hashes(self) -> dict[str, str]:
        """``Lora hashes`` as {alias: hash}; 12-hex addnet (A1111) or 10-hex sha256 (Fooocus)."""
        return {name: value.lower() for name, value in _name_values(self.params.get("Lora hashes", ""))}

    @property
    def lora_weights(self) -> dict[str, float]:
        """``Lora weights`` (Fooocus, LoRA Studio) as {alias: weight}."""
        out: dict[str, float] = {}
        for name, value in _name_values(self.params.get("Lora weights", "")):
            try:
                out[name] = float(value)
            except ValueError:
                continue
        return out

    @property
    def hashes(self) -> dict[str, str]:
        """``Hashes: {"model": ..., "lora:name": ...}`` (Civitai extension) as a dict of strings."""
        data = _loads(self.params.get("Hashes", ""))
        if not isinstance(data, dict):
            return {}
        return {str(k): str(v).lower() for k, v in data.items() if isinstance(v, str | int)}


def _name_values(text: str) -> list[tuple[str, str]]:
    out = []
    for item in text.split(","):
        name, sep, value = item.rpartition(":")
        if sep and name.strip() and value.strip():
            out.append((name.strip(), value.strip()))
    return out


def _quote(value: str) -> str:
    if value[:1] in "{[" and isinstance(_loads(value), dict | list):
        return value  # A1111 writes JSON objects raw (``Hashes: {...}``)
    if any(ch in value for ch in ",\n:") or value[:1] in '"{[' or value != value.strip():
        return json.dumps(value, ensure_ascii=False)
    return value


def format_infotext(info: Infotext) -> str:
    params = ", ".join(
        key if key == value else f"{key}: {_quote(value)}"
        for key, value in info.params.items()
        if value is not None and value != ""
    )
    negative = f"\n{_NEGATIVE} {info.negative_prompt}" if info.negative_prompt else ""
    return f"{info.prompt}{negative}\n{params}".strip()


def parse_infotext(text: str) -> Infotext:
    """Parse A1111 / Fooocus / StabilityMatrix style ``parameters`` text (A1111's own rules)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
    params: dict[str, str] = {}
    found = _split_pairs(lines[-1]) if lines else []
    if len(found) >= 3:  # A1111: fewer than three pairs means the last line is still prompt text
        lines = lines[:-1]
        params = dict(found)
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines:
        if not in_negative and line.lstrip().startswith(_NEGATIVE):
            in_negative = True
            line = line.lstrip()[len(_NEGATIVE) :].lstrip()
        (negative if in_negative else prompt).append(line)
    return Infotext("\n".join(prompt).strip(), "\n".join(negative).strip(), params)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TEXT_CHUNK = 4 * 1024 * 1024  # generation parameters are a few KB; refuse absurd chunks


@dataclass(frozen=True)
class PngText:
    width: int
    height: int
    text: dict[str, str]


def read_png_text(path: Path) -> PngText:
    """Size and text chunks (tEXt, zTXt, iTXt) of a PNG, without decoding pixels.

    Walks the chunk list and seeks over image data, so it costs a few reads even for large
    images, and finds text written after the pixels too. Raises ValueError for a file that is
    not a PNG or is cut short before the size is known.
    """
    import struct
    import zlib

    texts: dict[str, str] = {}
    width = height = 0
    with open(path, "rb") as f:
        if f.read(8) != PNG_SIGNATURE:
            raise ValueError("not a PNG file")
        while True:
            head = f.read(8)
            if len(head) < 8:
                break
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IHDR":
                data = f.read(length)
                if len(data) >= 8:
                    width, height = struct.unpack(">II", data[:8])
            elif kind in (b"tEXt", b"zTXt", b"iTXt") and length <= MAX_TEXT_CHUNK:
                data = f.read(length)
                try:
                    key, value = _text_chunk(kind, data, zlib.decompressobj())
                except (ValueError, zlib.error, UnicodeDecodeError):
                    key = ""
                if key:
                    texts.setdefault(key, value)
            elif kind == b"IEND":
                break
            else:
                f.seek(length, 1)
                f.seek(4, 1)
                continue
            f.seek(4, 1)  # CRC
    if not width:
        raise ValueError("PNG without a readable header")
    return PngText(width, height, texts)


def _text_chunk(kind: bytes, data: bytes, inflate: object) -> tuple[str, str]:
    key, sep, rest = data.partition(b"\0")
    if not sep:
        return "", ""
    name = key.decode("latin-1")

    def unzip(raw: bytes) -> bytes:
        out: bytes = inflate.decompress(raw, MAX_TEXT_CHUNK)  # type: ignore[attr-defined]
        return out

    if kind == b"tEXt":
        return name, rest.decode("latin-1")
    if kind == b"zTXt":
        return name, unzip(rest[1:]).decode("latin-1")
    # iTXt: compression flag, method, language tag\0, translated keyword\0, UTF-8 text
    flag = rest[:1] == b"\1"
    _lang, _, rest = rest[2:].partition(b"\0")
    _translated, _, body = rest.partition(b"\0")
    return name, (unzip(body) if flag else body).decode("utf-8")


def read_image_parameters(path: Path) -> str | None:
    """The ``parameters`` text of an image: PNG tEXt/zTXt/iTXt, or JPEG/WebP EXIF UserComment.

    Returns None when the image has none; raises OSError/ValueError for a file that cannot be read.
    """
    with open(path, "rb") as f:
        is_png = f.read(8) == PNG_SIGNATURE
    if is_png:
        value = read_png_text(path).text.get("parameters", "")
        return value if value.strip() else None
    from PIL import Image

    with Image.open(path) as im:
        info_value: object = im.info.get("parameters")
        if isinstance(info_value, bytes):
            info_value = info_value.decode("utf-8", "replace")
        if isinstance(info_value, str) and info_value.strip():
            return info_value
        comment = im.getexif().get_ifd(0x8769).get(0x9286)
    return _user_comment(comment)


def _user_comment(raw: object) -> str | None:
    """EXIF UserComment as A1111 writes it (piexif ``UNICODE`` prefix + UTF-16)."""
    if isinstance(raw, str):
        return raw.strip() or None
    if not isinstance(raw, bytes) or len(raw) <= 8:
        return None
    prefix, body = raw[:8], raw[8:]
    if prefix.startswith(b"UNICODE"):
        texts = [body.decode(enc, "replace") for enc in ("utf-16-be", "utf-16-le")]
        # The right byte order gives mostly ASCII-range characters for A1111 parameter text.
        text = max(texts, key=lambda t: sum(ch.isascii() for ch in t))
    else:
        text = body.decode("utf-8", "replace")
    text = text.replace("\x00", "").strip()
    return text or None
