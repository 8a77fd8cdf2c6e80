<#
.SYNOPSIS
  Build LoRA Studio for Windows from a clean checkout, in one command:

    pwsh packaging/build-windows.ps1 [-TestInstall]

  1. a build venv (build\venv) with this project's window (pip install .: no torch) and PyInstaller;
  2. the one-dir bundle dist\lorastudio\ (packaging\lorastudio.spec): "LoRA Studio.exe"
     (windowed) and lorastudio.exe (console), then `lorastudio.exe --self-test` on it;
  3. dist\LoRA-Studio-<version>-setup.exe with NSIS (packaging\windows\lorastudio.nsi).
  -TestInstall then installs it silently for the current user, runs --self-test on the
  installed copy and uninstalls it silently (what CI does).

  Needs Python 3.11 (the `py` launcher or -Python) and NSIS 3 (makensis on PATH or in
  "Program Files (x86)\NSIS"; `winget install NSIS.NSIS` or `choco install nsis`).
#>
param(
    [string]$Python = "",
    [switch]$TestInstall
)
$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest

function Invoke-Native {
    # Run a program and stop on a non-zero exit code (PowerShell does not, for native programs).
    # A simple function (no param block) so arguments like -m reach the program untouched.
    $exe, $rest = $args
    & $exe @rest
    if ($LASTEXITCODE -ne 0) { throw "$exe $($rest -join ' ') failed with exit code $LASTEXITCODE" }
}

$repo = Split-Path -Parent $PSScriptRoot
Set-Location $repo
$version = (Select-String -Path "desktop\lorastudio\__init__.py" -Pattern '^__version__ = "(.+)"').Matches[0].Groups[1].Value
$dist = Join-Path $repo "dist"
$bundle = Join-Path $dist "lorastudio"
$setup = Join-Path $dist "LoRA-Studio-$version-setup.exe"
$venvPython = Join-Path $repo "build\venv\Scripts\python.exe"
$clock = [Diagnostics.Stopwatch]::StartNew()

Write-Host "== build venv"
if (-not (Test-Path $venvPython)) {
    if ($Python) { Invoke-Native $Python -m venv build\venv }
    else { Invoke-Native py -3.11 -m venv build\venv }
}
$pipArgs = @("-m", "pip", "install", "--quiet")
Invoke-Native $venvPython @pipArgs . "pyinstaller==6.22.3" "pyinstaller-hooks-contrib==2026.9"

Write-Host "== freeze (PyInstaller one-dir)"
if (Test-Path $bundle) { Remove-Item -Recurse -Force $bundle }
Invoke-Native $venvPython -m PyInstaller --noconfirm --clean --log-level WARN `
    --distpath $dist --workpath (Join-Path $repo "build\pyinstaller") packaging\lorastudio.spec

Write-Host "== self-test on the bundle"
$env:QT_QPA_PLATFORM = "offscreen"
Invoke-Native (Join-Path $bundle "lorastudio.exe") --self-test

Write-Host "== installer"
$makensis = (Get-Command makensis -ErrorAction SilentlyContinue | Select-Object -ExpandProperty Source -First 1)
if (-not $makensis) { $makensis = Join-Path ${env:ProgramFiles(x86)} "NSIS\makensis.exe" }
if (-not (Test-Path $makensis)) { throw "makensis not found: install NSIS 3 (winget install NSIS.NSIS)" }
Invoke-Native $makensis -V2 "-DAPP_VERSION=$version" "-DSOURCE_DIR=$bundle" "-DOUTFILE=$setup" `
    packaging\windows\lorastudio.nsi

if ($TestInstall) {
    Write-Host "== silent install, self-test, silent uninstall"
    $installDir = Join-Path $env:LOCALAPPDATA "Programs\LoRA Studio"
    # -Wait also waits for child processes: the uninstaller re-launches itself from %TEMP%.
    $p = Start-Process -FilePath $setup -ArgumentList "/S" -Wait -PassThru
    if ($p.ExitCode -ne 0) { throw "installer exit code $($p.ExitCode)" }
    Invoke-Native (Join-Path $installDir "lorastudio.exe") --self-test
    $startMenu = Join-Path $env:APPDATA "Microsoft\Windows\Start Menu\Programs\LoRA Studio.lnk"
    if (-not (Test-Path $startMenu)) { throw "no Start-menu shortcut at $startMenu" }
    $p = Start-Process -FilePath (Join-Path $installDir "Uninstall.exe") -ArgumentList "/S" -Wait -PassThru
    if ($p.ExitCode -ne 0) { throw "uninstaller exit code $($p.ExitCode)" }
    if (Test-Path $installDir) { throw "$installDir is still there after uninstalling" }
    if (Test-Path "HKCU:\Software\Microsoft\Windows\CurrentVersion\Uninstall\LoRAStudio") {
        throw "uninstall registry key left behind"
    }
}

$bundleMB = [math]::Round((Get-ChildItem $bundle -Recurse -File | Measure-Object Length -Sum).Sum / 1MB)
$setupMB = [math]::Round((Get-Item $setup).Length / 1MB)
Write-Host "== done in $([math]::Round($clock.Elapsed.TotalSeconds)) s: bundle $bundleMB MB, $(Split-Path -Leaf $setup) $setupMB MB"
