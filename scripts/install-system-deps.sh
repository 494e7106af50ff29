#!/usr/bin/env bash
# Debian packages the project needs at run time and in tests; installs only what is missing.
#   chromium       kaleido renders Plotly charts through it (reports)
#   dcmtk          independent DICOM encoders/validators used by the tests (dcmcjpeg, dcmcjpls, dcmdump)
#   dicom3tools    dciodvfy, the IOD validator the tests run on the SR, SC and encapsulated PDF
#   poppler-utils  pdftoppm/pdftotext for checking rendered reports
set -euo pipefail
declare -A needed=([chromium]=/usr/bin/chromium [dcmtk]=/usr/bin/dcmcjpeg [dicom3tools]=/usr/bin/dciodvfy
                   [poppler-utils]=/usr/bin/pdftotext)
missing=()
for pkg in "${!needed[@]}"; do
    [ -x "${needed[$pkg]}" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})" >&2
    exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
