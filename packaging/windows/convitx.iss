; Inno Setup 6 script: ConViTX-Setup-<version>.exe from the PyInstaller bundle dist\ConViTX\.
;
; Built by .github/workflows/release.yml on windows-latest, from the repository root:
;   iscc /DAppVersion=0.1.0 /DSourceDir=%CD%\dist\ConViTX /DVcRedist=%CD%\build\vc_redist.x64.exe ^
;        /DIconFile=%CD%\build\icons\convitx.ico /O"%CD%\dist\installer" packaging\windows\convitx.iss
; Relative paths are taken from this script's folder, so pass absolute ones. Every /D is optional
; except AppVersion (the workflow reads it from pyproject.toml); without VcRedist the runtime step is left out.
;
; What it installs: the one-folder bundle into Program Files\ConViTX (convitx-desktop.exe, the windowed
; app; convitx.exe, the console CLI), a Start-menu entry (+ optional desktop icon), an uninstaller,
; optional "Open with ConViTX" for image files, optional PATH entry for `convitx`, and the Microsoft
; Visual C++ 2015-2022 x64 runtime that torch needs when it is not installed already (PyInstaller
; also ships the runtime DLLs beside the executables, so the app starts even if that step is skipped).

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z packaging\windows\convitx.iss
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\ConViTX"
#endif
#ifndef IconFile
  #define IconFile "..\..\build\icons\convitx.ico"
#endif
#define AppName "ConViTX"
#define AppExe "convitx-desktop.exe"
#define CliExe "convitx.exe"

[Setup]
; AppId identifies the installation for upgrades and the uninstaller: never change it.
AppId={{6D1C5E0A-3F7B-4B8E-9A63-2C1F0E4D7B59}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=ConViTX
AppComments=Tells whether an image was made by an AI generator or by a person.
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
OutputBaseFilename=ConViTX-Setup-{#AppVersion}
SetupIconFile={#IconFile}
Compression=lzma2/ultra64
SolidCompression=yes
LZMANumBlockThreads=4
WizardStyle=modern
; torch wheels exist for x64 only; the VC++ runtime install needs administrator rights.
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequired=admin
ChangesAssociations=yes
ChangesEnvironment=yes
CloseApplications=yes
MinVersion=10.0

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "assoc"; Description: "Add ""Open with {#AppName}"" for JPEG, PNG, WebP, TIFF, HEIC and AVIF images"; GroupDescription: "Integration:"; Flags: unchecked
Name: "addtopath"; Description: "Add the command-line tool (convitx) to PATH"; GroupDescription: "Integration:"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
#ifdef VcRedist
Source: "{#VcRedist}"; DestDir: "{tmp}"; DestName: "vc_redist.x64.exe"; Flags: deleteafterinstall; Check: VCRuntimeMissing
#endif

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Is this image AI-generated?"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; "Open with" entries (not the default handler): one ProgID, listed under each extension's OpenWithProgids.
Root: HKA; Subkey: "Software\Classes\ConViTX.Image"; ValueType: string; ValueName: ""; ValueData: "Image (ConViTX)"; Flags: uninsdeletekey; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\ConViTX.Image\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\ConViTX.Image\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.jpg\OpenWithProgids"; ValueType: string; ValueName: "ConViTX.Image"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.jpeg\OpenWithProgids"; ValueType: string; ValueName: "ConViTX.Image"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.png\OpenWithProgids"; ValueType: string; ValueName: "ConViTX.Image"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.webp\OpenWithProgids"; ValueType: string; ValueName: "ConViTX.Image"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.tif\OpenWithProgids"; ValueType: string; ValueName: "ConViTX.Image"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.tiff\OpenWithProgids"; ValueType: string; ValueName: "ConViTX.Image"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.heic\OpenWithProgids"; ValueType: string; ValueName: "ConViTX.Image"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.heif\OpenWithProgids"; ValueType: string; ValueName: "ConViTX.Image"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
Root: HKA; Subkey: "Software\Classes\.avif\OpenWithProgids"; ValueType: string; ValueName: "ConViTX.Image"; ValueData: ""; Flags: uninsdeletevalue; Tasks: assoc
; PATH entry for the CLI (removed again by the uninstaller, see [Code]).
Root: HKLM; Subkey: "SYSTEM\CurrentControlSet\Control\Session Manager\Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
#ifdef VcRedist
Filename: "{tmp}\vc_redist.x64.exe"; Parameters: "/install /quiet /norestart"; StatusMsg: "Installing the Microsoft Visual C++ runtime..."; Flags: waituntilterminated; Check: VCRuntimeMissing
#endif
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Files the app writes inside its own folder (none by design; user data lives in %LOCALAPPDATA%\convitx-desktop).
Type: filesandordirs; Name: "{app}\_internal\__pycache__"

[Code]
const
  VCRuntimeKey = 'SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64';
  EnvKey = 'SYSTEM\CurrentControlSet\Control\Session Manager\Environment';

function VCRuntimeMissing: Boolean;
var
  Installed: Cardinal;
  Major: Cardinal;
begin
  // torch 2.x needs the 2015-2022 runtime (major 14), at least 14.29 for recent builds.
  Result := True;
  if RegQueryDWordValue(HKLM64, VCRuntimeKey, 'Installed', Installed) and (Installed = 1) then
    if RegQueryDWordValue(HKLM64, VCRuntimeKey, 'Major', Major) and (Major >= 14) then
      Result := False;
end;

function NeedsAddPath(Dir: string): Boolean;
var
  Paths: string;
begin
  if not RegQueryStringValue(HKLM, EnvKey, 'Path', Paths) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') = 0;
end;

procedure RemoveFromPath(Dir: string);
var
  Paths: string;
  P: Integer;
begin
  if not RegQueryStringValue(HKLM, EnvKey, 'Path', Paths) then
    exit;
  P := Pos(';' + Uppercase(Dir), Uppercase(Paths));
  if P > 0 then
  begin
    Delete(Paths, P, Length(Dir) + 1);
    RegWriteExpandStringValue(HKLM, EnvKey, 'Path', Paths);
  end;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usPostUninstall then
    RemoveFromPath(ExpandConstant('{app}'));
end;
