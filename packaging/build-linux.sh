#!/usr/bin/env bash
# Build LoRA Studio for Linux from a clean checkout, in one command:
#
#   packaging/build-linux.sh
#
# 1. a build venv (build/venv) with this project's window (pip install .: no torch) and PyInstaller;
# 2. the one-dir bundle dist/lorastudio/ (packaging/lorastudio.spec): the window, uv and the
#    engine's sources; the engine runtime (torch...) is set up by the app on first use;
# 3. dist/LoRA-Studio-<version>-linux-x86_64.tar.gz (portable: extract, run ./lorastudio);
# 4. dist/lorastudio_<version>_amd64.deb (/opt/lorastudio, /usr/bin/lorastudio, menu entry, icons).
#
# Needs: python3.11, dpkg-deb, desktop-file-validate (desktop-file-utils), appstreamcli (appstream).
# Environment knobs:
#   PYTHON=python3.11          interpreter for the build venv
#   BUILD_VENV=build/venv      reuse or create this venv
#   SKIP_BUNDLE=1              keep an existing dist/lorastudio/ and only redo the archives
#   DEB_COMPRESSION=gzip       or zstd (-3); gzip installs on every dpkg, zstd needs dpkg >= 1.21.18
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
PYTHON="${PYTHON:-python3.11}"
BUILD_VENV="${BUILD_VENV:-build/venv}"
DEB_COMPRESSION="${DEB_COMPRESSION:-gzip}"
APP_ID="io.github.lorastudio.LoRAStudio"
version="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' desktop/lorastudio/__init__.py)"
[[ -n "$version" ]] || { echo "cannot read __version__ from desktop/lorastudio/__init__.py" >&2; exit 1; }
dist="$repo/dist"
bundle="$dist/lorastudio"
tarball="$dist/LoRA-Studio-$version-linux-x86_64.tar.gz"
deb="$dist/lorastudio_${version}_amd64.deb"

step() { printf '\n== %s\n' "$*"; }
seconds() { date +%s; }
t_start=$(seconds)

# Validate the desktop integration files first: a typo should not cost a 5-minute build.
step "validate desktop file and AppStream metainfo"
desktop-file-validate "packaging/linux/$APP_ID.desktop"
appstreamcli validate --no-net "packaging/linux/$APP_ID.metainfo.xml"
grep -q "<release version=\"$version\"" "packaging/linux/$APP_ID.metainfo.xml" \
    || { echo "packaging/linux/$APP_ID.metainfo.xml has no <release> for $version" >&2; exit 1; }

if [[ "${SKIP_BUNDLE:-0}" != 1 ]]; then
    step "build venv $BUILD_VENV"
    [[ -x "$BUILD_VENV/bin/python" ]] || "$PYTHON" -m venv "$BUILD_VENV"
    pip=("$BUILD_VENV/bin/python" -m pip install --quiet)
    "${pip[@]}" . "pyinstaller==6.22.3" "pyinstaller-hooks-contrib==2026.9"

    step "freeze (PyInstaller one-dir)"
    t0=$(seconds)
    rm -rf "$bundle"
    "$BUILD_VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
        --distpath "$dist" --workpath "$repo/build/pyinstaller" packaging/lorastudio.spec
    echo "froze in $(( $(seconds) - t0 )) s"
fi
[[ -x "$bundle/lorastudio" ]] || { echo "no bundle at $bundle" >&2; exit 1; }

step "portable archive $(basename "$tarball")"
t0=$(seconds)
gz=(gzip -6)
command -v pigz >/dev/null && gz=(pigz -6)  # same format, all cores
stage="$repo/build/tar/lorastudio-$version"
rm -rf "$repo/build/tar" && mkdir -p "$stage"
cp -a "$bundle/." "$stage/"
mkdir -p "$stage/share"
cp "packaging/linux/$APP_ID.desktop" "packaging/linux/$APP_ID.metainfo.xml" \
    packaging/icons/lorastudio.svg packaging/icons/lorastudio-256.png "$stage/share/"
tar -C "$repo/build/tar" -cf - "lorastudio-$version" | "${gz[@]}" > "$tarball"
echo "archived in $(( $(seconds) - t0 )) s"

step "Debian package $(basename "$deb")"
t0=$(seconds)
root="$repo/build/deb/root"
rm -rf "$repo/build/deb" && mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" \
    "$root/usr/share/applications" "$root/usr/share/metainfo" "$root/usr/share/doc/lorastudio" \
    "$root/usr/share/icons/hicolor/scalable/apps"
cp -a "$bundle" "$root/opt/lorastudio"
# PyInstaller's bootloader finds _internal/ through /proc/self/exe, so a symlink works.
ln -s /opt/lorastudio/lorastudio "$root/usr/bin/lorastudio"
install -m 644 "packaging/linux/$APP_ID.desktop" "$root/usr/share/applications/"
install -m 644 "packaging/linux/$APP_ID.metainfo.xml" "$root/usr/share/metainfo/"
install -m 644 packaging/icons/lorastudio.svg "$root/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg"
for size in 16 24 32 48 64 128 256 512; do
    mkdir -p "$root/usr/share/icons/hicolor/${size}x${size}/apps"
    install -m 644 "packaging/icons/lorastudio-$size.png" \
        "$root/usr/share/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
cat > "$root/usr/share/doc/lorastudio/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: LoRA Studio
License: Apache-2.0
Comment: /opt/lorastudio/_internal holds third-party libraries (PyTorch, Qt for Python,
 diffusers, transformers, peft, ...) under their own licenses, listed in their *.dist-info folders.
EOF
installed_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
# The Qt libraries a minimal Debian/Ubuntu lacks (shared/notes stack-api-notes 8.2, and ldd of
# PySide6's libqxcb.so). Menus and the icon cache update through dpkg triggers: no maintainer scripts.
cat > "$root/DEBIAN/control" <<EOF
Package: lorastudio
Version: $version
Section: graphics
Priority: optional
Architecture: amd64
Maintainer: LoRA Studio <lorastudio@users.noreply.github.com>
Installed-Size: $installed_kb
Depends: libc6 (>= 2.28), libglib2.0-0t64 | libglib2.0-0, libgl1, libegl1, libfontconfig1,
 libfreetype6, libdbus-1-3, libxkbcommon0, libxkbcommon-x11-0, libx11-6, libx11-xcb1, libxcb1,
 libxcb-cursor0, libxcb-glx0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0,
 libxcb-render0, libxcb-render-util0, libxcb-shape0, libxcb-shm0, libxcb-sync1, libxcb-util1,
 libxcb-xfixes0, libxcb-xkb1
Recommends: libwayland-client0, libwayland-cursor0, libwayland-egl1, fonts-dejavu-core
Homepage: https://github.com/lorastudio/lorastudio
Description: install, browse and mix LoRA adapters and generate locally
 LoRA Studio is a desktop studio for LoRA adapters: it finds the models and LoRAs
 you have, downloads new ones from the Hugging Face Hub, mixes several LoRAs with
 sliders and generates pictures on your computer, offline.
 .
 This package carries its own Python, PyTorch (CPU build) and Qt under
 /opt/lorastudio. Run "lorastudio --self-test" to check the installation.
EOF
if [[ "$DEB_COMPRESSION" == zstd ]]; then zflags=(-Zzstd -z3); else zflags=(-Zgzip -z6); fi
dpkg-deb --root-owner-group "${zflags[@]}" --build "$root" "$deb" >/dev/null
echo "packaged in $(( $(seconds) - t0 )) s"

step "done in $(( $(seconds) - t_start )) s"
du -sh "$bundle" "$tarball" "$deb"
