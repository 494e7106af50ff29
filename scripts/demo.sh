#!/usr/bin/env bash
# The main job on the bundled example: read it, measure metacarpals II-IV (with its label map, then with the
# segmentation network), score the result; then make a few synthetic hands with ground truth.
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo-output
mkdir -p "$out"
example=examples/phantom_hand.dcm

echo "== 1. What intake understands of the bundled example (dxr inspect)"
.venv/bin/dxr inspect "$example"
echo
echo "== 2. Radiogrammetry, scores, the physician report and the DICOM results for PACS (dxr analyze)"
.venv/bin/dxr analyze "$example" --masks examples/phantom_hand_labels.png --out "$out" --report pdf,html,dicom
.venv/bin/python - "$out/phantom_hand.json" examples/phantom_hand_truth.json <<'PY'
import json, sys
result, truth = (json.load(open(path)) for path in sys.argv[1:])
print(f"   {'bone':4} {'W mm (true)':>16} {'T mm (true)':>16}")
for bone in result["bones"]:
    true = truth["bones"][bone["name"]]
    print(f"   {bone['name']:4} {bone['width_mm']:7.3f} ({true['width_mm']:6.3f}) {bone['cortical_thickness_mm']:7.3f} "
          f"({true['cortical_thickness_mm']:6.3f})")
print(f"   {result['category']['label']}")
print(f"   triage: {result['triage']['advice']}")
PY
echo
echo "== 3. The same, with the segmentation network finding the bones (no label map)"
.venv/bin/dxr analyze "$example" --out "$out/network"
echo
echo "== 4. Synthetic hand radiographs with ground truth (dxr phantom)"
.venv/bin/dxr phantom --out "$out/phantoms" --count 3 --seed 1
echo
echo "Demo output is in $(pwd)/$out: phantom_hand.json (with the given label map) with its report"
echo "(phantom_hand.pdf, .html) and DICOM results (phantom_hand_sr.dcm, _sc.dcm, _report_pdf.dcm),"
echo "network/phantom_hand.json (with the network's label map), phantoms/ (generated hands)"
