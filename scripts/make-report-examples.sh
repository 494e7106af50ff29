#!/usr/bin/env bash
# Regenerates the report examples shown in docs/report.md from the bundled phantom (never from real images):
# a measured hand with an earlier result to compare, and the same hand rejected (label map with metacarpal II only).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/dxr analyze examples/phantom_hand.dcm --masks examples/phantom_hand_labels.png --out "$work/first" >/dev/null
.venv/bin/python - "$work" <<'PY'
import json, sys
import numpy as np
from PIL import Image
work = sys.argv[1]
first = json.load(open(f"{work}/first/phantom_hand.json"))
# An earlier examination of the same hand, invented for the example: same method, four years before.
first["image"]["acquisition_date"] = "2013-04-10"
first["dxr_bmd_g_cm2"] = 0.561
json.dump(first, open(f"{work}/prior.json", "w"))
labels = np.asarray(Image.open("examples/phantom_hand_labels.png")).copy()
labels[~np.isin(labels, (0, 1, 4))] = 0
Image.fromarray(labels).save(f"{work}/only_ii_labels.png")
PY
.venv/bin/dxr analyze examples/phantom_hand.dcm --masks examples/phantom_hand_labels.png --prior "$work/prior.json" \
    --out "$work/measured" --report pdf >/dev/null
cp examples/phantom_hand.dcm "$work/rejected.dcm"
.venv/bin/dxr analyze "$work/rejected.dcm" --masks "$work/only_ii_labels.png" --out "$work/rejected" --report pdf \
    >/dev/null || true  # exit status 1: the image is rejected, as intended
cp "$work/measured/phantom_hand.pdf" docs/images/report_example.pdf
pdftoppm -r 100 -png -singlefile docs/images/report_example.pdf docs/images/report_example
pdftoppm -r 60 -png -singlefile "$work/rejected/rejected.pdf" docs/images/report_rejected
echo "wrote docs/images/report_example.pdf, report_example.png, report_rejected.png"
