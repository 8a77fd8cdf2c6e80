"""A1111 infotext: the ``parameters`` PNG text chunk that A1111, Civitai, Fooocus and others read.

Layout (A1111 ``create_infotext``): the prompt, then ``Negative prompt: ...`` when set, then one line
``Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Model hash: ..., ...``.
Values holding ``,`` ``:`` or a newline are JSON-quoted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# A1111 infotext_utils.re_param: key: value, where value may be a JSON string.
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_NEGATIVE = "Negative prompt:"


@dataclass(frozen=True)
class Infotext:
    prompt: str = ""
    negative_prompt: str = ""
    params: dict[str, str] = field(default_factory=dict)

    def get_int(self, key: str, default: int | None = None) -> int | None:
        try:
            return int(float(self.params[key]))
        except (KeyError, ValueError):
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
        out: dict[str, str] = {}
        for item in self.params.get("Lora hashes", "").split(","):
            name, sep, value = item.rpartition(":")
            if sep and name.strip() and value.strip():
                out[name.strip()] = value.strip().lower()
        return out


def _quote(value: str) -> str:
    if any(ch in value for ch in ",\n:"):
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
    lines = text.strip().split("\n")
    params: dict[str, str] = {}
    last = lines[-1] if lines else ""
    found = _PARAM.findall(last)
    if len(found) >= 3:
        lines = lines[:-1]
        for key, value in found:
            value = value.strip()
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                try:
                    value = json.loads(value)
                except ValueError:
                    value = value[1:-1]
            params[key.strip()] = value
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines:
        if line.startswith(_NEGATIVE):
            in_negative = True
            line = line[len(_NEGATIVE):].lstrip()
        (negative if in_negative else prompt).append(line)
    return Infotext("\n".join(prompt).strip(), "\n".join(negative).strip(), params)
