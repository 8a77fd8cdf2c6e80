"""The Windows installer's logic, run for real: makensis builds packaging/windows/lorastudio.nsi
against a small dummy bundle, and the installer runs silently under wine (``setup.exe /S``).

A user would check: the app lands in %LOCALAPPDATA%\\Programs\\LoRA Studio without admin rights, a
Start-menu shortcut starts it, "Apps & features" lists it (HKCU uninstall key), the optional
desktop shortcut and "Open with" entry appear only when asked for, and uninstalling leaves nothing
behind. Skips when makensis or wine is missing (Debian: ``apt-get install nsis wine``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NSI = REPO / "packaging" / "windows" / "lorastudio.nsi"
UNINSTALL_KEY = r"Software\Microsoft\Windows\CurrentVersion\Uninstall\LoRAStudio"
PROGID_KEY = r"Software\Classes\LoRAStudio.safetensors"
OPEN_WITH_KEY = r"Software\Classes\.safetensors\OpenWithProgids"
WINE_TIMEOUT_S = 120  # a first wine start builds its prefix (~5 s here); a hang must not stall CI

MAKENSIS = shutil.which("makensis")
WINE = shutil.which("wine") or shutil.which("wine64")
WINESERVER = shutil.which("wineserver")
pytestmark = pytest.mark.skipif(
    not (MAKENSIS and WINE and WINESERVER),
    reason="needs makensis and wine to build and run the Windows installer "
           "(Debian/Ubuntu: apt-get install nsis wine)")


@dataclass(frozen=True)
class Wine:
    prefix: Path
    env: dict[str, str]

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """Run a Windows program and wait until every process it started has ended (the NSIS
        uninstaller re-launches itself from %TEMP%, so the first process returns early)."""
        done = subprocess.run([WINE, *map(str, args)], env=self.env, capture_output=True, text=True,
                              timeout=WINE_TIMEOUT_S, check=False)
        subprocess.run([WINESERVER, "-w"], env=self.env, timeout=WINE_TIMEOUT_S, check=True)
        return done

    def close(self) -> None:
        """Stop this prefix's wineserver so no process outlives the test."""
        subprocess.run([WINESERVER, "-k"], env=self.env, timeout=WINE_TIMEOUT_S, check=False,
                       capture_output=True)

    @property
    def user_dir(self) -> Path:
        users = [p for p in (self.prefix / "drive_c" / "users").iterdir()
                 if p.name not in ("Public", "Default")]
        assert len(users) == 1, users
        return users[0]

    @property
    def install_dir(self) -> Path:
        return self.user_dir / "AppData" / "Local" / "Programs" / "LoRA Studio"

    @property
    def start_menu_link(self) -> Path:
        return (self.user_dir / "AppData" / "Roaming" / "Microsoft" / "Windows" / "Start Menu"
                / "Programs" / "LoRA Studio.lnk")

    @property
    def desktop_link(self) -> Path:
        # wine links Desktop to $HOME (or the XDG desktop dir); the path resolves either way.
        return self.user_dir / "Desktop" / "LoRA Studio.lnk"

    def hkcu(self) -> dict[str, dict[str, str]]:
        """HKEY_CURRENT_USER as {key: {value name: raw value}}, read from the prefix's user.reg
        (written when wineserver exits)."""
        keys: dict[str, dict[str, str]] = {}
        current: dict[str, str] | None = None
        text = (self.prefix / "user.reg").read_text("utf-8", errors="replace")
        for line in text.splitlines():
            header = re.match(r"^\[(.+?)\](?: \d+)?$", line)
            if header:
                current = keys.setdefault(header.group(1).replace("\\\\", "\\"), {})
                continue
            value = re.match(r'^(@|"(?:[^"\\]|\\.)*")=(.*)$', line)
            if value and current is not None:
                name = "" if value.group(1) == "@" else value.group(1)[1:-1]
                current[name] = value.group(2).replace("\\\\", "\\")
        return keys


def _dummy_bundle(root: Path) -> Path:
    """What PyInstaller's one-dir build looks like on Windows, with tiny stand-in files."""
    bundle = root / "bundle"
    (bundle / "_internal" / "resources" / "icons").mkdir(parents=True)
    (bundle / "LoRA Studio.exe").write_bytes(b"MZ stand-in for the windowed app")
    (bundle / "lorastudio.exe").write_bytes(b"MZ stand-in for the console app")
    (bundle / "_internal" / "python311.dll").write_bytes(b"\0" * 4096)
    shutil.copy(REPO / "packaging" / "icons" / "lorastudio.ico",
                bundle / "_internal" / "resources" / "icons" / "lorastudio.ico")
    return bundle


@pytest.fixture(scope="module")
def setup_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nsis")
    bundle = _dummy_bundle(root)
    out = root / "LoRA-Studio-0.1.0-setup.exe"
    subprocess.run([MAKENSIS, "-V2", "-WX", "-DAPP_VERSION=0.1.0", f"-DSOURCE_DIR={bundle}",
                    f"-DOUTFILE={out}", str(NSI)], check=True, timeout=120)
    assert out.stat().st_size > 0
    return out


def _wine(root: Path) -> Wine:
    home = root / "home"
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(
        HOME=str(home),  # wine links Desktop & co. into $HOME: keep them inside the test dir
        WINEPREFIX=str(root / "prefix"),
        WINEDEBUG="-all",
        # no Mono/Gecko install prompts, no .desktop files leaking into the host's menus
        WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d",
    )
    return Wine(root / "prefix", env)


@pytest.fixture(scope="module")
def installed(setup_exe: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wine]:
    """A fresh wine prefix with LoRA Studio installed silently, desktop link and association on."""
    wine = _wine(tmp_path_factory.mktemp("wine-full"))
    done = wine.run(setup_exe, "/S", "/DESKTOP", "/ASSOCIATE")
    assert done.returncode == 0, done.stderr
    yield wine
    wine.close()


def test_installs_bundle_per_user_without_admin(installed: Wine) -> None:
    files = {p.relative_to(installed.install_dir).as_posix() for p in installed.install_dir.rglob("*")
             if p.is_file()}
    assert files == {"LoRA Studio.exe", "lorastudio.exe", "Uninstall.exe", "_internal/python311.dll",
                     "_internal/resources/icons/lorastudio.ico"}


def test_start_menu_and_desktop_shortcuts(installed: Wine) -> None:
    assert installed.start_menu_link.is_file()
    assert installed.desktop_link.is_file()
    # A .lnk stores its target path in UTF-16 (unicode links) or the ANSI code page.
    blob = installed.start_menu_link.read_bytes()
    assert "LoRA Studio.exe".encode("utf-16-le") in blob or b"LoRA Studio.exe" in blob


def test_listed_in_apps_and_features(installed: Wine) -> None:
    key = installed.hkcu()[UNINSTALL_KEY]
    assert key['DisplayName'] == '"LoRA Studio"'
    assert key["DisplayVersion"] == '"0.1.0"'
    assert r"\AppData\Local\Programs\LoRA Studio\Uninstall.exe" in key["UninstallString"]
    assert key["QuietUninstallString"].endswith(' /S"')
    assert key["NoModify"] == "dword:00000001"


def test_open_with_entry_for_safetensors(installed: Wine) -> None:
    hkcu = installed.hkcu()
    command = hkcu[PROGID_KEY + r"\shell\open\command"][""]
    assert r'LoRA Studio.exe\" app \"%1\"' in command
    assert "LoRAStudio.safetensors" in hkcu[OPEN_WITH_KEY]


def test_default_silent_install_has_no_optional_parts(setup_exe: Path,
                                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    wine = _wine(tmp_path_factory.mktemp("wine-default"))
    try:
        assert wine.run(setup_exe, "/S").returncode == 0
    finally:
        wine.close()
    assert (wine.install_dir / "LoRA Studio.exe").is_file()
    assert wine.start_menu_link.is_file()
    assert not wine.desktop_link.exists()
    assert PROGID_KEY not in wine.hkcu()


def test_silent_uninstall_removes_everything(installed: Wine) -> None:
    # Runs last in this module: it takes the install away from the tests above.
    done = installed.run(installed.install_dir / "Uninstall.exe", "/S")
    assert done.returncode == 0, done.stderr
    assert not installed.install_dir.exists()
    assert not installed.start_menu_link.exists()
    assert not installed.desktop_link.exists()
    hkcu = installed.hkcu()
    leftovers = [k for k in hkcu if "LoRA" in k or k.startswith(r"Software\Classes\.safetensors")]
    assert leftovers == []
