#!/usr/bin/env bash
# Install the Linux desktop integration: menu entry, icons in every size, AppStream data.
# The `resnet-desktop` command itself must be on PATH (pip install, or a link to the bundle).
#
# Usage: packaging/install_desktop_files.sh [PREFIX]
#   PREFIX defaults to ~/.local (per user); distribution packages use /usr with DESTDIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${1:-$HOME/.local}
SHARE="${DESTDIR:-}$PREFIX/share"
APP_ID=org.resnetdesktop.ResNetDesktop

install -Dm644 "$ROOT/resources/$APP_ID.desktop" "$SHARE/applications/$APP_ID.desktop"
install -Dm644 "$ROOT/resources/$APP_ID.metainfo.xml" "$SHARE/metainfo/$APP_ID.metainfo.xml"
install -Dm644 "$ROOT/resources/resnet-desktop.svg" "$SHARE/icons/hicolor/scalable/apps/$APP_ID.svg"
for png in "$ROOT"/resnet_desktop/icons/resnet-desktop-*.png; do
    size=${png##*-}
    size=${size%.png}
    install -Dm644 "$png" "$SHARE/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done

# Refresh the caches when the tools exist (they do on desktops, not in build chroots).
if [[ -z "${DESTDIR:-}" ]]; then
    command -v update-desktop-database >/dev/null && update-desktop-database -q "$SHARE/applications" || true
    command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" || true
fi
echo "installed $APP_ID into $SHARE"
