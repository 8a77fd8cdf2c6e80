#!/usr/bin/env bash
# Render lorastudio.svg to the PNG sizes the desktops want, a Windows .ico, and the copies the app
# uses for its window icon (resources/icons/). Needs rsvg-convert (Debian: librsvg2-bin) and Pillow.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
for size in 16 24 32 48 64 128 256 512; do
    rsvg-convert -w "$size" -h "$size" "$here/lorastudio.svg" -o "$here/lorastudio-$size.png"
done
"$python" - "$here" <<'PY'
import sys
from pathlib import Path
from PIL import Image
here = Path(sys.argv[1])
sizes = [16, 24, 32, 48, 64, 128, 256]
big = Image.open(here / "lorastudio-256.png")
# Pillow writes every size from the largest image; the hand-rendered small PNGs are sharper, so
# pass them as extra frames.
extra = [Image.open(here / f"lorastudio-{s}.png") for s in sizes[:-1]]
big.save(here / "lorastudio.ico", sizes=[(s, s) for s in sizes], append_images=extra)
PY
mkdir -p "$repo/resources/icons"
cp "$here/lorastudio.svg" "$here/lorastudio-256.png" "$here/lorastudio-32.png" "$here/lorastudio.ico" \
    "$repo/resources/icons/"
# The name app.py loads for the window icon.
cp "$here/lorastudio-256.png" "$repo/resources/icons/lorastudio.png"
echo "rendered icons into $here and $repo/resources/icons"
