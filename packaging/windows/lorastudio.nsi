; LoRA Studio: per-user Windows installer (no admin rights needed).
;
; Build (packaging/build-windows.ps1 does this):
;   makensis /DAPP_VERSION=0.1.0 /DSOURCE_DIR=dist\lorastudio /DOUTFILE=dist\LoRA-Studio-0.1.0-setup.exe lorastudio.nsi
; SOURCE_DIR is the PyInstaller one-dir bundle: "LoRA Studio.exe" (windowed), "lorastudio.exe"
; (console, for --self-test and the command line) and _internal\.
;
; Silent install: setup.exe /S [/DESKTOP] [/ASSOCIATE] [/D=C:\other\dir]
;   /DESKTOP   also put a shortcut on the desktop
;   /ASSOCIATE offer LoRA Studio in "Open with" for .safetensors files
; Silent uninstall: "%LOCALAPPDATA%\Programs\LoRA Studio\Uninstall.exe" /S
; The uninstaller never touches the user's data dir (models, outputs, settings).

Unicode true
; torch ships 64-bit only, so the installer is 64-bit too.
Target amd64-unicode
SetCompressor /SOLID lzma
ManifestDPIAware true

!ifndef APP_VERSION
  !define APP_VERSION "0.0.0"
!endif
!ifndef SOURCE_DIR
  !error "pass /DSOURCE_DIR=<PyInstaller one-dir bundle>"
!endif
!ifndef OUTFILE
  !define OUTFILE "LoRA-Studio-${APP_VERSION}-setup.exe"
!endif
!ifndef ICON
  !define ICON "${__FILEDIR__}\..\icons\lorastudio.ico"
!endif

!define APP_NAME "LoRA Studio"
!define APP_EXE "LoRA Studio.exe"
!define CLI_EXE "lorastudio.exe"
!define PUBLISHER "LoRA Studio"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\LoRAStudio"
!define APP_KEY "Software\LoRA Studio"
!define PROGID "LoRAStudio.safetensors"

!include "MUI2.nsh"
!include "FileFunc.nsh"
!include "LogicLib.nsh"
!include "Sections.nsh"

Name "${APP_NAME}"
OutFile "${OUTFILE}"
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\${APP_NAME}"
InstallDirRegKey HKCU "${APP_KEY}" "InstallDir"
BrandingText "${APP_NAME} ${APP_VERSION}"

; VIProductVersion wants four numbers; "0.1.0" and "0.1.0.dev1" both give 0.1.0.0.
!searchparse /noerrors "${APP_VERSION}" "" VER_MAJOR "." VER_MINOR "." VER_PATCH
!ifndef VER_MAJOR
  !define VER_MAJOR 0
!endif
!ifndef VER_MINOR
  !define VER_MINOR 0
!endif
!ifndef VER_PATCH
  !define VER_PATCH 0
!endif
!searchparse /noerrors "${VER_PATCH}" "" VER_PATCH_NUM "."
!ifdef VER_PATCH_NUM
  !define /redef VER_PATCH ${VER_PATCH_NUM}
!endif
VIProductVersion "${VER_MAJOR}.${VER_MINOR}.${VER_PATCH}.0"
VIAddVersionKey "ProductName" "${APP_NAME}"
VIAddVersionKey "ProductVersion" "${APP_VERSION}"
VIAddVersionKey "FileDescription" "${APP_NAME} installer"
VIAddVersionKey "FileVersion" "${APP_VERSION}"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "LegalCopyright" "Apache-2.0"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_COMPONENTSPAGE_SMALLDESC
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP_EXE}"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${APP_NAME}"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Section "${APP_NAME} (required)" SecApp
  SectionIn RO
  SetShellVarContext current
  ; An upgrade replaces the bundle whole: stale libraries from an older torch must not linger.
  RMDir /r "$INSTDIR\_internal"
  SetOutPath "$INSTDIR"
  File /r "${SOURCE_DIR}\*.*"
  WriteUninstaller "$INSTDIR\Uninstall.exe"

  CreateShortCut "$SMPROGRAMS\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0

  WriteRegStr HKCU "${APP_KEY}" "InstallDir" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${APP_VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE}"
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\Uninstall.exe"'
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\Uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINST_KEY}" "EstimatedSize" $0
SectionEnd

Section /o "Desktop shortcut" SecDesktop
  SetShellVarContext current
  CreateShortCut "$DESKTOP\${APP_NAME}.lnk" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0
SectionEnd

Section /o "Offer LoRA Studio in $\"Open with$\" for .safetensors files" SecAssoc
  ; Only "Open with": the user's default program for .safetensors stays as it is.
  WriteRegStr HKCU "Software\Classes\${PROGID}" "" "LoRA adapter or model (safetensors)"
  WriteRegStr HKCU "Software\Classes\${PROGID}\DefaultIcon" "" "$INSTDIR\${APP_EXE},0"
  WriteRegStr HKCU "Software\Classes\${PROGID}\shell\open\command" "" '"$INSTDIR\${APP_EXE}" app "%1"'
  WriteRegStr HKCU "Software\Classes\.safetensors\OpenWithProgids" "${PROGID}" ""
  WriteRegStr HKCU "${APP_KEY}" "Associated" "1"
  System::Call 'shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)'
SectionEnd

LangString DESC_SecApp ${LANG_ENGLISH} "The application. Your models, pictures and settings are kept elsewhere and are never removed by the uninstaller."
LangString DESC_SecDesktop ${LANG_ENGLISH} "A shortcut on your desktop."
LangString DESC_SecAssoc ${LANG_ENGLISH} "Right-click a .safetensors file, Open with, LoRA Studio. Does not change your default program."
!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecApp} $(DESC_SecApp)
  !insertmacro MUI_DESCRIPTION_TEXT ${SecDesktop} $(DESC_SecDesktop)
  !insertmacro MUI_DESCRIPTION_TEXT ${SecAssoc} $(DESC_SecAssoc)
!insertmacro MUI_FUNCTION_DESCRIPTION_END

Function .onInit
  ; Silent installs choose the optional parts on the command line.
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/DESKTOP" $R1
  ${IfNot} ${Errors}
    !insertmacro SelectSection ${SecDesktop}
  ${EndIf}
  ClearErrors
  ${GetOptions} $R0 "/ASSOCIATE" $R1
  ${IfNot} ${Errors}
    !insertmacro SelectSection ${SecAssoc}
  ${EndIf}
FunctionEnd

Section "Uninstall"
  SetShellVarContext current
  Delete "$SMPROGRAMS\${APP_NAME}.lnk"
  Delete "$DESKTOP\${APP_NAME}.lnk"

  ReadRegStr $0 HKCU "Software\Classes\${PROGID}\shell\open\command" ""
  DeleteRegKey HKCU "Software\Classes\${PROGID}"
  DeleteRegValue HKCU "Software\Classes\.safetensors\OpenWithProgids" "${PROGID}"
  DeleteRegKey /ifempty HKCU "Software\Classes\.safetensors\OpenWithProgids"
  DeleteRegKey /ifempty HKCU "Software\Classes\.safetensors"
  ${If} $0 != ""
    System::Call 'shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)'
  ${EndIf}

  ; Remove only what the installer put there, so a folder chosen by mistake (say, Documents)
  ; loses nothing else; the folder itself goes only when it is then empty.
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\${APP_EXE}"
  Delete "$INSTDIR\${CLI_EXE}"
  Delete "$INSTDIR\Uninstall.exe"
  RMDir "$INSTDIR"

  DeleteRegKey HKCU "${UNINST_KEY}"
  DeleteRegKey HKCU "${APP_KEY}"
SectionEnd
