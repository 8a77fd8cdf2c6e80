#!/usr/bin/env bash
# The slow end-to-end packaging check (not part of the default test run; ~10 min on 2 cores):
#   1. packaging/build-linux.sh: venv, freeze, .tar.gz, .deb   (SKIP_BUILD=1: reuse dist/)
#   2. --self-test on the frozen bundle, offscreen
#   3. the frozen app under Xvfb: wait for its real window, take a screenshot, close it
#   4. the .tar.gz lists the whole bundle
#   5. dpkg -i the .deb, check what it installed, `lorastudio --self-test` from PATH (the window
#      half; no engine runtime yet), then the first-run engine runtime install from a local wheel
#      folder (`lorastudio runtime install --find-links`), the self-test again (now the engine half:
#      the demo model generated in the engine process started from that runtime), remove it
# Prints sizes and timings. Needs root (or sudo) for step 5, and: xvfb xauth x11-utils imagemagick
# desktop-file-utils appstream plus the Qt xcb libraries (see the .deb's Depends).
#   SCREENSHOT=dist/frozen-app.png   where the window screenshot goes
#   WINDOW_TIMEOUT=120               seconds to wait for the window
#   WHEELHOUSE=dir                   wheels for the engine runtime (default: built offline by
#                                    tests/helpers/wheelhouse.py from .venv and /opt/wheels' torch;
#                                    without those, the runtime is installed from the network)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
version="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' desktop/lorastudio/__init__.py)"
bundle="$repo/dist/lorastudio"
tarball="$repo/dist/LoRA-Studio-$version-linux-x86_64.tar.gz"
deb="$repo/dist/lorastudio_${version}_amd64.deb"
screenshot="${SCREENSHOT:-$repo/dist/frozen-app.png}"
window_timeout="${WINDOW_TIMEOUT:-120}"
APP_ID="io.github.lorastudio.LoRAStudio"
work="$(mktemp -d /tmp/lorastudio-packaging.XXXXXX)"
trap 'rm -rf "$work"' EXIT

declare -a report=()
note() { report+=("$(printf '%-34s %s' "$1" "$2")"); }
step() { printf '\n== %s\n' "$*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
fail() { echo "FAIL: $*" >&2; exit 1; }
as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
# Every run of the app gets a fresh data dir and HOME: the test never touches the user's state.
isolated() { env HOME="$work/home" LORASTUDIO_HOME="$work/data" HF_HUB_OFFLINE=1 "$@"; }
mkdir -p "$work/home"

t_all=$(now)
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    step "build (packaging/build-linux.sh)"
    t=$(now)
    packaging/build-linux.sh
    note "build (venv + freeze + archives)" "$(since "$t")"
fi
[[ -x "$bundle/lorastudio" && -f "$tarball" && -f "$deb" ]] || fail "build outputs missing in dist/"

step "self-test on the frozen bundle (offscreen)"
t=$(now)
isolated env QT_QPA_PLATFORM=offscreen "$bundle/lorastudio" --self-test | tee "$work/selftest.txt"
note "frozen --self-test" "$(since "$t")"
grep -q "^self-test passed" "$work/selftest.txt" || fail "frozen self-test"

step "frozen app under Xvfb: window screenshot"
t=$(now)
mkdir -p "$(dirname "$screenshot")"
cat > "$work/screenshot.sh" <<'EOF'
#!/usr/bin/env bash
# Runs inside xvfb-run: start the app, wait for its top-level window, let it paint, grab the screen.
set -euo pipefail
bundle="$1" screenshot="$2" timeout="$3"
QT_QPA_PLATFORM=xcb "$bundle/lorastudio" > "$WORK/app.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
deadline=$(( $(date +%s) + timeout ))
until xwininfo -root -tree 2>/dev/null | grep -q '"LoRA Studio'; do
    kill -0 "$pid" 2>/dev/null || { echo "the app exited before showing a window:"; cat "$WORK/app.log"; exit 1; }
    (( $(date +%s) < deadline )) || { echo "no window after ${timeout}s"; cat "$WORK/app.log"; exit 1; }
    sleep 0.5
done
sleep 3  # first paint and the background model scan; not a measurement
import -window root "$screenshot"
kill -0 "$pid" 2>/dev/null || { echo "the app died after showing its window:"; cat "$WORK/app.log"; exit 1; }
xwininfo -root -tree | grep '"LoRA Studio' | head -3
kill "$pid"; wait "$pid" || true
EOF
chmod +x "$work/screenshot.sh"
isolated env WORK="$work" xvfb-run -a -s "-screen 0 1440x900x24" \
    "$work/screenshot.sh" "$bundle" "$screenshot" "$window_timeout"
note "window under Xvfb (start+shot)" "$(since "$t")"
note "screenshot" "$screenshot"
grep -i -E "error|traceback" "$work/app.log" && echo "(the app logged the lines above)" || true

step "portable archive"
t=$(now)
listed=$(tar -tzf "$tarball" | grep -c -v '/$')
bundled=$(find "$bundle" -type f -o -type l | wc -l)
(( listed >= bundled )) || fail "$tarball lists $listed files, the bundle has $bundled"
note "tar.gz integrity ($listed files)" "$(since "$t")"

step "install the .deb, self-test from PATH, remove"
if [[ $EUID -ne 0 ]] && ! command -v sudo >/dev/null; then
    echo "SKIP: installing the .deb needs root or sudo"
else
    dpkg-query -W lorastudio >/dev/null 2>&1 && fail "lorastudio is already installed here; remove it first"
    t=$(now)
    as_root dpkg -i "$deb" || { as_root apt-get install -f -y; dpkg-query -W lorastudio >/dev/null; }
    note "dpkg -i" "$(since "$t")"
    [[ "$(readlink -f /usr/bin/lorastudio)" == /opt/lorastudio/lorastudio ]] || fail "/usr/bin/lorastudio link"
    desktop-file-validate "/usr/share/applications/$APP_ID.desktop"
    appstreamcli validate --no-net "/usr/share/metainfo/$APP_ID.metainfo.xml" >/dev/null
    [[ -f "/usr/share/icons/hicolor/256x256/apps/$APP_ID.png" ]] || fail "hicolor icon"
    [[ -f "/usr/share/icons/hicolor/scalable/apps/$APP_ID.svg" ]] || fail "scalable icon"
    t=$(now)
    (cd / && isolated env QT_QPA_PLATFORM=offscreen lorastudio --self-test) | tee "$work/selftest-deb.txt"
    grep -q "^self-test passed" "$work/selftest-deb.txt" || fail "installed self-test"
    grep -q "^skip engine process: no engine runtime" "$work/selftest-deb.txt" || fail "engine half not skipped"
    note "installed --self-test (window half)" "$(since "$t")"
    # The engine runtime's source: WHEELHOUSE, else a wheel folder made offline from ./dev's .venv and
    # the machine's torch wheel, else the network (PyPI and PyTorch's CPU index: a release runner).
    wheelhouse="${WHEELHOUSE:-}"
    if [[ -z "$wheelhouse" && -x "$repo/.venv/bin/python" ]]; then
        t=$(now)
        if wheelhouse="$(PYTHONPATH="$repo/desktop" "$repo/.venv/bin/python" "$repo/tests/helpers/wheelhouse.py" 2>/dev/null)"; then
            note "wheelhouse (offline)" "$(since "$t")"
        else
            wheelhouse=""
        fi
    fi
    source_args=() source_name="network"
    if [[ -n "$wheelhouse" ]]; then source_args=(--find-links "$wheelhouse") source_name="local wheels"; fi
    t=$(now)
    (cd / && isolated lorastudio runtime install --backend cpu "${source_args[@]}")
    note "runtime install ($source_name)" "$(since "$t")"
    note "engine runtime size" "$(du -sh "$work/data/runtime" | cut -f1)"
    t=$(now)
    (cd / && isolated env QT_QPA_PLATFORM=offscreen lorastudio --self-test) | tee "$work/selftest-engine.txt"
    grep -q "^ok   generate with LoRA" "$work/selftest-engine.txt" || fail "generation from the engine runtime"
    note "installed --self-test (both halves)" "$(since "$t")"
    t=$(now)
    as_root dpkg --purge lorastudio
    note "dpkg --purge" "$(since "$t")"
    [[ ! -e /opt/lorastudio && ! -e /usr/bin/lorastudio && ! -e "/usr/share/applications/$APP_ID.desktop" ]] \
        || fail "files left after removal"
    ! dpkg-query -W lorastudio >/dev/null 2>&1 || fail "package still registered"
fi

step "summary"
note "bundle dist/lorastudio" "$(du -sh "$bundle" | cut -f1) ($(find "$bundle" -type f | wc -l) files)"
note "$(basename "$tarball")" "$(du -h "$tarball" | cut -f1)"
note "$(basename "$deb")" "$(du -h "$deb" | cut -f1) (installed $(dpkg-deb -f "$deb" Installed-Size) KiB)"
note "total" "$(since "$t_all")"
printf '%s\n' "${report[@]}"
echo "packaging test passed"
