#!/usr/bin/env bash
# macOS: sign ConViTX.app (every nested .dylib/.so/Mach-O first, then the app), wrap it in a .dmg,
# notarise and staple. Without the signing secrets it signs nothing and still makes an unsigned .dmg.
#
#   packaging/macos/sign_and_notarize.sh dist/ConViTX.app dist/installer/ConViTX-<version>-macos-<arch>.dmg
#
# Secrets (GitHub Actions secrets passed as environment variables; all optional):
#   MACOS_CERTIFICATE           base64 of a "Developer ID Application" .p12 (certificate + private key)
#   MACOS_CERTIFICATE_PASSWORD  its password
#   MACOS_SIGN_IDENTITY         e.g. "Developer ID Application: Example Ltd (TEAMID1234)"
#   APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD   notarisation (app-specific password of APPLE_ID)
# Signing needs the first three; notarisation needs signing plus the last three.
set -euo pipefail

APP=${1:?usage: sign_and_notarize.sh PATH/ConViTX.app OUT.dmg}
DMG=${2:?usage: sign_and_notarize.sh PATH/ConViTX.app OUT.dmg}
HERE="$(cd "$(dirname "$0")" && pwd)"
ENTITLEMENTS="$HERE/entitlements.plist"
VOLNAME=${VOLNAME:-ConViTX}

[ -d "$APP" ] || { echo "sign: $APP not found" >&2; exit 2; }
mkdir -p "$(dirname "$DMG")"

sign_enabled=0
if [ -n "${MACOS_CERTIFICATE:-}" ] && [ -n "${MACOS_CERTIFICATE_PASSWORD:-}" ] && [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
    sign_enabled=1
fi
notarize_enabled=0
if [ "$sign_enabled" = 1 ] && [ -n "${APPLE_ID:-}" ] && [ -n "${APPLE_TEAM_ID:-}" ] && [ -n "${APPLE_APP_PASSWORD:-}" ]; then
    notarize_enabled=1
fi

KEYCHAIN=""
cleanup() {
    if [ -n "$KEYCHAIN" ]; then
        security delete-keychain "$KEYCHAIN" >/dev/null 2>&1 || true
    fi
    rm -f "${CERT_FILE:-}"
}
trap cleanup EXIT

import_certificate() {
    KEYCHAIN="$RUNNER_TEMP_DIR/convitx-signing.keychain-db"
    local keychain_password
    keychain_password="$(uuidgen)"
    CERT_FILE="$RUNNER_TEMP_DIR/convitx-cert.p12"
    printf '%s' "$MACOS_CERTIFICATE" | base64 --decode > "$CERT_FILE"
    security create-keychain -p "$keychain_password" "$KEYCHAIN"
    security set-keychain-settings -lut 21600 "$KEYCHAIN"
    security unlock-keychain -p "$keychain_password" "$KEYCHAIN"
    security import "$CERT_FILE" -k "$KEYCHAIN" -P "$MACOS_CERTIFICATE_PASSWORD" -T /usr/bin/codesign
    security set-key-partition-list -S apple-tool:,apple: -s -k "$keychain_password" "$KEYCHAIN" >/dev/null
    # Put it first in the search list so codesign finds the identity.
    # shellcheck disable=SC2046
    security list-keychains -d user -s "$KEYCHAIN" $(security list-keychains -d user | tr -d '"')
}

sign() {  # sign one file or bundle with the hardened runtime and a secure timestamp
    codesign --force --timestamp --options runtime --entitlements "$ENTITLEMENTS" \
        --keychain "$KEYCHAIN" --sign "$MACOS_SIGN_IDENTITY" "$1"
}

list_nested_macho() {
    # Every Mach-O file inside the bundle except the two executables in Contents/MacOS, found by its
    # magic number (.dylib, .so, and extension-less ones such as the Python library and Qt framework
    # binaries), deepest paths first so that containers are signed after what they contain.
    "${PYTHON:-python3}" - "$APP" <<'PY'
import os, sys
MAGICS = {bytes.fromhex(m) for m in ("feedface", "feedfacf", "cefaedfe", "cffaedfe", "cafebabe", "bebafeca")}
app = sys.argv[1]
found = []
for folder, _dirs, files in os.walk(app):
    if os.path.relpath(folder, app) == os.path.join("Contents", "MacOS"):
        continue
    for name in files:
        path = os.path.join(folder, name)
        if os.path.islink(path):
            continue
        with open(path, "rb") as handle:
            if handle.read(4) in MAGICS:
                found.append(path)
for path in sorted(found, key=lambda p: (-p.count(os.sep), p)):
    print(path)
PY
}

sign_app() {
    local count=0 file framework
    while IFS= read -r file; do
        sign "$file"
        count=$((count + 1))
    done < <(list_nested_macho)
    # Nested framework bundles (Qt*.framework) after their binaries, then the secondary executable,
    # then the app (whose main executable is convitx-desktop).
    while IFS= read -r -d '' framework; do
        sign "$framework"
    done < <(find "$APP/Contents/Frameworks" -type d -name "*.framework" -print0)
    sign "$APP/Contents/MacOS/convitx"
    sign "$APP"
    echo "sign: signed $count nested binaries, convitx and $(basename "$APP")"
    codesign --verify --deep --strict --verbose=2 "$APP"
}

make_dmg() {
    local staging
    staging="$(mktemp -d)"
    cp -R "$APP" "$staging/"
    ln -s /Applications "$staging/Applications"
    rm -f "$DMG"
    hdiutil create -volname "$VOLNAME" -srcfolder "$staging" -ov -format UDZO -fs HFS+ "$DMG"
    rm -rf "$staging"
}

RUNNER_TEMP_DIR="${RUNNER_TEMP:-$(mktemp -d)}"

if [ "$sign_enabled" = 1 ]; then
    import_certificate
    sign_app
else
    echo "sign: MACOS_CERTIFICATE / MACOS_CERTIFICATE_PASSWORD / MACOS_SIGN_IDENTITY not set:" \
         "skipping signing and notarisation; the .dmg is unsigned (PyInstaller's ad-hoc signature only)"
fi

make_dmg

if [ "$sign_enabled" = 1 ]; then
    codesign --force --timestamp --keychain "$KEYCHAIN" --sign "$MACOS_SIGN_IDENTITY" "$DMG"
fi
if [ "$notarize_enabled" = 1 ]; then
    xcrun notarytool submit "$DMG" --apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" \
        --password "$APPLE_APP_PASSWORD" --wait --timeout 60m
    xcrun stapler staple "$DMG"
    xcrun stapler validate "$DMG"
    spctl --assess --type open --context context:primary-signature --verbose=2 "$DMG" || true
elif [ "$sign_enabled" = 1 ]; then
    echo "sign: APPLE_ID / APPLE_TEAM_ID / APPLE_APP_PASSWORD not set: signed but not notarised"
fi
echo "sign: $DMG ($(du -h "$DMG" | cut -f1))"
