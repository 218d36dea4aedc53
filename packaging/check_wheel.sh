#!/usr/bin/env bash
# Build the sdist and the wheel (the wheel from the sdist, as pip does from PyPI), check their
# contents, install the wheel into a fresh venv and run the installed command from outside
# the checkout: --version, then `predict` on generated images with a CSV export.
#
# Usage: packaging/check_wheel.sh            (PYTHON=python3.12 packaging/check_wheel.sh ...)
# Needs the package index (or pip's cache) for build tools, torch and torchvision. Set
# KEEP_DIST=DIR to keep the built sdist and wheel there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SECONDS=0

step() { printf '\n== [%ss] %s\n' "$SECONDS" "$*"; }

step "build sdist and wheel"
"$PYTHON" -m venv "$WORK/build-env"
"$WORK/build-env/bin/python" -m pip install --quiet build
"$WORK/build-env/bin/python" -m build --outdir "$WORK/dist" "$ROOT"
"$WORK/build-env/bin/python" "$ROOT/packaging/check_dist.py" "$WORK/dist"
if [[ -n "${KEEP_DIST:-}" ]]; then
    mkdir -p "$KEEP_DIST" && cp "$WORK"/dist/* "$KEEP_DIST"/
fi

step "install the wheel into a fresh venv"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet "$WORK"/dist/*.whl
cd "$WORK"  # away from the checkout: only the installed copy can be imported

step "run the installed command"
"$WORK/venv/bin/resnet-desktop" --version
"$WORK/venv/bin/python" - "$WORK/venv" <<'EOF'
import sys
from pathlib import Path

import resnet_desktop
from resnet_desktop import resources

venv = Path(sys.argv[1]).resolve()
assert venv in Path(resnet_desktop.__file__).resolve().parents, resnet_desktop.__file__
for size in resources.ICON_SIZES:
    assert resources.icon_path(size).is_file(), f"missing {size} px icon"
print(f"imported from {Path(resnet_desktop.__file__).parent}; {len(resources.ICON_SIZES)} icons")
EOF

step "predict on generated images"
"$WORK/venv/bin/python" - "$WORK/images" <<'EOF'
import sys
from pathlib import Path

from PIL import Image

folder = Path(sys.argv[1])
(folder / "sub").mkdir(parents=True)
colours = {"red.png": (220, 30, 30), "green.jpg": (30, 200, 40), "sub/blue.png": (20, 40, 230)}
for name, colour in colours.items():
    Image.new("RGB", (40, 30), colour).save(folder / name)
EOF
"$WORK/venv/bin/resnet-desktop" predict "$WORK/images" --model cifar_resnet20 --weights random \
    --csv "$WORK/out.csv"
"$WORK/venv/bin/python" - "$WORK/images" "$WORK/out.csv" <<'EOF'
import csv
import os
import sys
from pathlib import Path

folder, table = Path(sys.argv[1]), Path(sys.argv[2])
with table.open(newline="", encoding="utf-8") as handle:
    rows = list(csv.DictReader(handle))
expected = sorted(os.path.abspath(p) for p in folder.rglob("*") if p.is_file())
assert sorted(row["path"] for row in rows) == expected, rows
assert all(row["label_1"] and not row["error"] for row in rows), rows
assert all(0.0 <= float(row["prob_1"]) <= 1.0 for row in rows), rows
print(f"{table.name}: {len(rows)} rows, one per image, all classified")
EOF

step "wheel check passed"
