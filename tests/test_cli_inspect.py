"""``dxr inspect``: what intake understood, one line per refusal, non-zero exit when anything was refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dxr.serving.cli import main
from tests.dicom_factory import dx_dataset, save

REAL_DICOM = Path(__file__).resolve().parents[2] / "shared" / "real_hands" / "adult_dx_dicom"


def test_inspect_prints_spacing_source_and_patient(tmp_path: Path, capsys):
    path = save(dx_dataset(PixelSpacing=None, ImagerPixelSpacing=[0.14, 0.14]), tmp_path / "a.dcm")
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ImagerPixelSpacing" in out
    assert "[0.14, 0.14]" in out
    assert "laterality             L" in out


def test_inspect_json_and_exit_status_with_a_refused_file(tmp_path: Path, capsys):
    good = save(dx_dataset(), tmp_path / "good.dcm")
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\x00" * 300)
    assert main(["inspect", "--json", str(good), str(bad)]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["status"] for line in lines] == ["ok", "refused"]
    assert lines[0]["pixel_spacing_mm"] == [0.1, 0.1]
    assert lines[1]["code"] == "not_dicom"
    assert lines[1]["file"] == str(bad)


def test_console_script_reports_without_traceback(tmp_path: Path):
    bad = tmp_path / "report.pdf"
    bad.write_bytes(b"%PDF-1.4\n" + b"x" * 400)
    dxr = Path(sys.executable).parent / "dxr"
    result = subprocess.run([str(dxr), "inspect", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{bad}: REFUSED [not_dicom]" in result.stdout


@pytest.mark.skipif(not REAL_DICOM.is_dir(), reason="shared real radiographs not present")
def test_inspect_reads_the_real_dicom_files(capsys):
    files = sorted(str(path) for path in REAL_DICOM.glob("*.dcm"))
    assert len(files) == 6
    assert main(["inspect", "--json", *files]) == 0
    for line in capsys.readouterr().out.splitlines():
        result = json.loads(line)
        assert result["pixel_spacing_mm"] == [0.175, 0.175]
        assert result["photometric"] == "MONOCHROME2"
        assert result["patient_sex"] == "M"
        assert result["age_years"] == 44.0
