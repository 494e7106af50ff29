"""``dxr analyze --masks``: the JSON result on disk, its coordinates, and refusals that are still recorded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from dxr.serving.cli import main
from tests.dicom_factory import dx_dataset, save
from tests.model_factory import write_threshold_model
from tests.synthetic import DEFAULT_TUBES, three_tubes


@pytest.fixture(scope="module")
def hand(tmp_path_factory) -> tuple[Path, Path]:
    """A DICOM of three tubes (12-bit, MONOCHROME1 to exercise inversion) and its PNG label map."""
    directory = tmp_path_factory.mktemp("analyze")
    radiograph, labels = three_tubes(spacing_mm=0.15)
    pixels = radiograph.pixels
    stored = np.round((pixels - pixels.min()) / (pixels.max() - pixels.min()) * 4000).astype(np.uint16)
    ds = dx_dataset(4095 - stored, PhotometricInterpretation="MONOCHROME1", PixelSpacing=[0.15, 0.15])
    image = save(ds, directory / "hand.dcm")
    Image.fromarray(labels).save(directory / "hand_labels.png")
    return image, directory / "hand_labels.png"


def test_analyze_writes_the_documented_json(hand, tmp_path: Path, capsys):
    image, labels = hand
    assert main(["analyze", str(image), "--masks", str(labels), "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "hand.json").read_text())
    assert result["status"] == "ok"
    assert result["image"]["pixel_spacing_mm"] == [0.15, 0.15]
    assert result["image"]["spacing_source"] == "PixelSpacing"
    assert result["patient"] == {
        "name": "TEST^HAND",
        "id": "T-0001",
        "birth_date": "1970-06-15",
        "sex": "F",
        "age_years": pytest.approx(53.71, abs=0.01),
    }
    assert result["study"] == {"date": "2024-03-01", "accession_number": None, "institution": None}
    assert [bone["name"] for bone in result["bones"]] == ["II", "III", "IV"]
    for bone, tube in zip(result["bones"], DEFAULT_TUBES, strict=True):
        assert bone["width_mm"] == pytest.approx(tube.width_mm, abs=0.05)
        assert bone["cortical_thickness_mm"] == pytest.approx(tube.thickness_mm, abs=0.04)
        assert bone["n_profiles"] >= 100
        # Coordinates are (x = column, y = row): these tubes run down the image, so x is nearly constant.
        (x0, y0), (x1, y1) = bone["axis_px"]
        assert abs(x1 - x0) < 3
        assert abs(y1 - y0) == pytest.approx(tube.length_mm / 0.15, abs=8)
        assert x0 == pytest.approx(tube.centre_mm[0] / 0.15, abs=2)
        assert len(bone["roi_px"]) == 4
        assert len(bone["edges_px"]["outer_left"]) == bone["n_profiles"]
    assert result["dxr_bmd_g_cm2"] == pytest.approx(np.mean([b["bmd_g_cm2"] for b in result["bones"]]), abs=1e-4)
    assert result["calibration"]["id"] == "dxr-bmd-method"
    assert "DXR-BMD" in capsys.readouterr().out


def test_analyze_with_a_mask_directory_and_a_refused_file(hand, tmp_path: Path, capsys):
    image, labels = hand
    bogus = tmp_path / "notes.dcm"
    bogus.write_text("not an image")
    unlabelled = tmp_path / "unlabelled.dcm"
    unlabelled.write_bytes(image.read_bytes())
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "hand_labels.png").write_bytes(labels.read_bytes())
    (masks / "notes_labels.png").write_bytes(labels.read_bytes())
    out = tmp_path / "out"
    status = main(["analyze", str(image), str(bogus), str(unlabelled), "--masks", str(masks), "--out", str(out)])
    assert status == 1
    assert json.loads((out / "hand.json").read_text())["status"] == "ok"
    refused = json.loads((out / "notes.json").read_text())
    assert refused["status"] == "rejected"
    assert refused["rejection_reasons"][0]["code"] == "not_dicom"
    assert "patient" not in refused  # no header to name anyone
    missing = json.loads((out / "unlabelled.json").read_text())
    assert missing["rejection_reasons"][0]["code"] == "invalid_label_map"
    # Refused, but its header was read: the result still says whose image it was.
    assert missing["patient"]["id"] == "T-0001"
    assert missing["image"]["sop_instance_uid"] == pydicom.dcmread(image).SOPInstanceUID
    assert "REJECTED [not_dicom]" in capsys.readouterr().out


def test_analyze_without_masks_and_without_a_model_is_a_usage_error(hand, tmp_path: Path, capsys):
    missing = tmp_path / "absent.onnx"
    assert main(["analyze", str(hand[0]), "--out", str(tmp_path), "--model", str(missing)]) == 2
    error = capsys.readouterr().err
    assert "absent.onnx" in error
    assert "--masks" in error


def test_label_map_on_another_grid_is_refused_with_its_reason(hand, tmp_path: Path):
    image, _ = hand
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((10, 10), np.uint8))
    assert main(["analyze", str(image), "--masks", str(wrong), "--out", str(tmp_path)]) == 1
    result = json.loads((tmp_path / "hand.json").read_text())
    assert result["rejection_reasons"][0]["code"] == "invalid_label_map"


def test_no_spacing_means_no_numbers(hand, tmp_path: Path):
    _, labels = hand
    png = tmp_path / "hand.png"
    Image.fromarray(np.asarray(Image.open(labels)) * 30).save(png)  # any 8-bit image will do as the radiograph
    assert main(["analyze", str(png), "--masks", str(labels), "--out", str(tmp_path)]) == 1
    result = json.loads((tmp_path / "hand.json").read_text())
    assert result["rejection_reasons"][0]["code"] == "spacing_missing"
    assert result["dxr_bmd_g_cm2"] is None
    assert all(bone["width_mm"] is None for bone in result["bones"])


def test_scores_and_change_since_prior_in_the_result(hand, tmp_path: Path):
    image, labels = hand
    first = tmp_path / "first"
    assert main(["analyze", str(image), "--masks", str(labels), "--out", str(first), "--acquired-for-dxr"]) == 0
    result = json.loads((first / "hand.json").read_text())
    # A 53-year-old woman: T-score primary, WHO category labelled DXR-based, triage, relative fracture risk.
    assert result["t_score"]["primary"] is True
    assert "not a DXA diagnosis" in result["category"]["label"]
    assert result["triage"]["band"] in {"osteoporosis_unlikely", "refer_for_central_dxa", "osteoporosis_likely"}
    assert result["fracture_risk"]["relative_risk_vs_age_matched_average"] > 0
    assert result["reference"]["t_score_table"]["id"] == "se-women-2013"
    assert result["cpt_code"]["code"] == "0750T"
    assert "change_since_prior" not in result

    prior = dict(result, image={**result["image"], "acquisition_date": "2022-03-01"}, dxr_bmd_g_cm2=0.7)
    prior_path = tmp_path / "prior.json"
    prior_path.write_text(json.dumps(prior))
    second = tmp_path / "second"
    main(["analyze", str(image), "--masks", str(labels), "--out", str(second), "--prior", str(prior_path)])
    follow_up = json.loads((second / "hand.json").read_text())
    assert follow_up["cpt_code"]["code"] == "0749T"
    (change,) = follow_up["change_since_prior"]["comparisons"]
    assert change["delta_g_cm2"] == pytest.approx(follow_up["dxr_bmd_g_cm2"] - 0.7, abs=1e-4)
    assert change["significant"] is True
    assert change["interval_years"] == pytest.approx(2.0, abs=0.01)


def test_unreadable_prior_is_a_usage_error(hand, tmp_path: Path, capsys):
    image, labels = hand
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["analyze", str(image), "--masks", str(labels), "--out", str(tmp_path), "--prior", str(bad)]) == 2
    assert "bad.json: not a usable prior result" in capsys.readouterr().err


def test_site_reference_table_chosen_by_site_policy(hand, tmp_path: Path):
    image, labels = hand
    shipped = Path(__file__).resolve().parents[1] / "analysis" / "data" / "reference-us-women-black2001.json"
    table = json.loads(shipped.read_text())
    table["id"], table["version"] = "site-women", "7"
    site_table = tmp_path / "site-women.json"
    site_table.write_text(json.dumps(table))
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"format": "dxr-scoring-policy/1", "female_table_id": "site-women"}))
    out = tmp_path / "out"
    arguments = ["analyze", str(image), "--masks", str(labels), "--out", str(out)]
    assert main([*arguments, "--reference-table", str(site_table), "--scoring-policy", str(policy)]) == 0
    result = json.loads((out / "hand.json").read_text())
    assert (result["reference"]["t_score_table"]["id"], result["reference"]["t_score_table"]["version"]) == (
        "site-women",
        "7",
    )
    young = table["young_adult"]
    expected_t = (result["dxr_bmd_g_cm2"] - young["mean_g_cm2"]) / young["sd_g_cm2"]
    assert result["t_score"]["value"] == pytest.approx(expected_t, abs=0.02)


def test_malformed_site_table_is_refused_naming_the_file(hand, tmp_path: Path, capsys):
    image, labels = hand
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"format": "dxr-reference-table/1", "id": "x"}))
    arguments = ["analyze", str(image), "--masks", str(labels), "--out", str(tmp_path), "--reference-table"]
    assert main([*arguments, str(broken)]) == 2
    assert "broken.json" in capsys.readouterr().err


def test_analyze_without_masks_segments_with_the_model_and_records_it(hand, tmp_path: Path):
    model = write_threshold_model(tmp_path)
    out = tmp_path / "out"
    main(["analyze", str(hand[0]), "--out", str(out), "--model", str(model)])
    result = json.loads((out / "hand.json").read_text())
    assert result["segmentation"]["source"] == "model"
    assert result["model"]["name"] == "threshold-test"
    assert result["model"]["provider"] == "CPUExecutionProvider"
    assert len(result["model"]["sha256"]) == 64
    # The threshold model marks every bright structure as metacarpal III: II and IV are not found.
    assert [bone["flags"][0]["code"] for bone in result["bones"] if bone["flags"]][:1] == ["bone_not_found"]
