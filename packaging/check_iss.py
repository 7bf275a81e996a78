"""A structural check of an Inno Setup script, for machines without ISCC (Linux CI).

    python packaging/check_iss.py packaging/windows/convitx.iss

Not a compiler: it catches what breaks most edits: unknown sections, parameter lines that do not
split into `Name: value` pairs (unbalanced quotes, missing colon), unknown parameter names or
flags, missing required parameters, preprocessor #if/#endif and [Code] begin/end imbalance, and
{#Define} uses without a #define. The real compile happens in the release workflow (windows-latest).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

COMMON = {"Languages", "MinVersion", "OnlyBelowVersion", "Check", "Tasks", "Components", "BeforeInstall",
          "AfterInstall"}
SECTIONS = {
    "Files": ({"Source", "DestDir", "DestName", "Excludes", "ExternalSize", "CopyMode", "Attribs", "Permissions",
               "FontInstall", "StrongAssemblyName", "Flags"} | COMMON, {"Source", "DestDir"}),
    "Icons": ({"Name", "Filename", "Parameters", "WorkingDir", "HotKey", "Comment", "IconFilename", "IconIndex",
               "AppUserModelID", "AppUserModelToastActivatorCLSID", "Flags"} | COMMON, {"Name", "Filename"}),
    "Registry": ({"Root", "Subkey", "ValueType", "ValueName", "ValueData", "Permissions", "Flags"} | COMMON,
                 {"Root", "Subkey"}),
    "Run": ({"Filename", "Description", "Parameters", "WorkingDir", "StatusMsg", "RunOnceId", "Verb", "Flags"}
            | COMMON, {"Filename"}),
    "UninstallRun": ({"Filename", "Parameters", "WorkingDir", "RunOnceId", "Verb", "Flags"} | COMMON,
                     {"Filename", "RunOnceId"}),
    "UninstallDelete": ({"Type", "Name"} | COMMON, {"Type", "Name"}),
    "InstallDelete": ({"Type", "Name"} | COMMON, {"Type", "Name"}),
    "Tasks": ({"Name", "Description", "GroupDescription", "Flags"} | COMMON, {"Name", "Description"}),
    "Dirs": ({"Name", "Attribs", "Permissions", "Flags"} | COMMON, {"Name"}),
    "Languages": ({"Name", "MessagesFile", "LicenseFile", "InfoBeforeFile", "InfoAfterFile"}, {"Name", "MessagesFile"}),
}
FLAGS = {
    "Files": {"ignoreversion", "recursesubdirs", "createallsubdirs", "deleteafterinstall", "restartreplace",
              "uninsneveruninstall", "skipifsourcedoesntexist", "onlyifdoesntexist", "replacesameversion",
              "signonce", "solidbreak", "dontcopy", "external", "64bit", "32bit"},
    "Icons": {"createonlyiffileexists", "excludefromshowinnewinstall", "preventpinning", "runmaximized",
              "runminimized", "uninsneveruninstall", "useapppaths"},
    "Registry": {"createvalueifdoesntexist", "deletekey", "deletevalue", "dontcreatekey", "noerror",
                 "preservestringtype", "uninsclearvalue", "uninsdeletekey", "uninsdeletekeyifempty",
                 "uninsdeletevalue", "uninsneveruninstall"},
    "Run": {"nowait", "postinstall", "skipifsilent", "skipifnotsilent", "waituntilterminated", "waituntilidle",
            "runhidden", "runascurrentuser", "runasoriginaluser", "shellexec", "unchecked", "hidewizard",
            "skipifdoesntexist", "runmaximized", "runminimized", "64bit", "32bit"},
    "Tasks": {"unchecked", "checkedonce", "exclusive", "dontinheritcheck", "restart"},
    "UninstallDelete": set(), "InstallDelete": set(), "Dirs": {"uninsalwaysuninstall", "uninsneveruninstall",
                                                                "deleteafterinstall", "setntfscompression"},
}
KNOWN = set(SECTIONS) | {"Setup", "Code", "Messages", "CustomMessages", "LangOptions", "Types", "Components", "INI"}


def split_params(line: str) -> list[tuple[str, str]]:
    """Split `Name: value; Name: "quoted ""x"" value"` into pairs; raise ValueError when malformed."""
    pairs, i = [], 0
    while i < len(line):
        match = re.match(r'\s*([A-Za-z0-9]+)\s*:\s*', line[i:])
        if not match:
            raise ValueError(f"expected 'Name:' at {line[i:]!r}")
        name, i = match.group(1), i + match.end()
        if line[i:i + 1] == '"':
            j = i + 1
            while True:
                j = line.find('"', j)
                if j < 0:
                    raise ValueError(f"unterminated quote in {name}")
                if line[j + 1:j + 2] == '"':
                    j += 2
                    continue
                break
            value, i = line[i + 1:j], j + 1
        else:
            end = line.find(";", i)
            end = len(line) if end < 0 else end
            value, i = line[i:end].strip(), end
        rest = line[i:].lstrip()
        if rest and not rest.startswith(";"):
            raise ValueError(f"junk after {name}: {rest!r}")
        i = len(line) - len(rest) + (1 if rest else 0)
        pairs.append((name, value))
    return pairs


def check(path: Path) -> list[str]:
    errors, section, depth_pp, code_lines = [], None, 0, []
    text = path.read_text(encoding="utf-8-sig")
    defines = set(re.findall(r"^\s*#\s*define\s+(\w+)", text, re.M)) | {"AppVersion", "SourceDir", "VcRedist",
                                                                           "IconFile"}
    for used in set(re.findall(r"\{#(\w+)\}", text)) - defines:
        errors.append(f"{{#{used}}} is used but never #defined (nor passed with /D)")
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{path.name}:{number}"
        if line.startswith("#"):
            word = line[1:].split()[0] if line[1:].split() else ""
            depth_pp += word in ("if", "ifdef", "ifndef", "ifexist")
            depth_pp -= word == "endif"
            continue
        header = re.fullmatch(r"\[(\w+)\]", line)
        if header:
            section = header.group(1)
            if section not in KNOWN:
                errors.append(f"{where}: unknown section [{section}]")
            continue
        if section == "Code":
            code_lines.append(re.sub(r"//.*|'[^']*'", "", raw))
            continue
        if not line or line.startswith(";"):
            continue
        if section in ("Setup", "Messages", "CustomMessages", "LangOptions"):
            if not re.match(r"[A-Za-z0-9_.]+\s*=", line):
                errors.append(f"{where}: expected Directive=value")
            continue
        if section not in SECTIONS:
            continue
        allowed, required = SECTIONS[section]
        try:
            pairs = dict(split_params(line))
        except ValueError as exc:
            errors.append(f"{where}: {exc}")
            continue
        for name in set(pairs) - allowed:
            errors.append(f"{where}: [{section}] has no parameter {name}")
        for name in required - set(pairs):
            if not (section == "UninstallRun" and name == "RunOnceId"):
                errors.append(f"{where}: [{section}] needs {name}")
        for flag in pairs.get("Flags", "").split():
            if flag not in FLAGS.get(section, set()):
                errors.append(f"{where}: unknown flag {flag!r} in [{section}]")
    if depth_pp:
        errors.append(f"preprocessor #if/#endif unbalanced by {depth_pp}")
    code = "\n".join(code_lines).lower()
    opens = len(re.findall(r"\b(begin|case|try)\b", code))
    closes = len(re.findall(r"\bend\b", code))
    if opens != closes:
        errors.append(f"[Code]: {opens} begin/case/try but {closes} end")
    return errors


def main(argv: list[str]) -> int:
    problems = [f"{name}: {e}" for name in argv for e in check(Path(name))]
    print("\n".join(problems) or f"check_iss: {', '.join(argv)} ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or [str(Path(__file__).parent / "windows" / "convitx.iss")]))
