#!/usr/bin/env bash
# The main job on the bundled example: make a few synthetic hands, then read the bundled example and them
# as the analysis would. (Later steps of the pipeline add their output here as they land.)
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo-output
mkdir -p "$out"
echo "== 1. Synthetic hand radiographs with ground truth (dxr phantom)"
.venv/bin/dxr phantom --out "$out/phantoms" --count 3 --seed 1
echo
echo "== 2. Intake of the bundled example and the generated hands (dxr inspect)"
.venv/bin/dxr inspect examples/*.dcm "$out"/phantoms/*.dcm | tee "$out/inspect.txt"
echo
echo "Demo output is in $(pwd)/$out (inspect listing: $out/inspect.txt)"
