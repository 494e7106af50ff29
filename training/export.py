"""Export a trained checkpoint to ONNX (one self-contained file) with its model card.

    python -m dxr.training.export --checkpoint runs/unet/best.pt --version 0.1.0 --run runs/unet

Writes ``models/metacarpal_unet.onnx`` and ``models/metacarpal_unet.json`` (the machine-readable card the
runtime reads: name, version, sha256, input contract, training data, metrics), and checks that ONNX Runtime
reproduces the PyTorch output.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import onnxruntime
import torch

from dxr.models.network import CHANNELS, build_network
from dxr.models.preprocessing import MODEL_SPACING_MM, PAD_MULTIPLE
from dxr.models.runtime import DEFAULT_MODEL

__all__ = ["export_onnx", "max_difference_torch_vs_onnx"]


def export_onnx(network: torch.nn.Module, path: Path) -> None:
    """Export with dynamic batch, height and width (multiples of 16), weights inside the file."""
    network = network.eval()
    example = torch.zeros(1, 1, 256, 192)
    batch, height, width = torch.export.Dim("batch"), torch.export.Dim("height"), torch.export.Dim("width")
    torch.onnx.export(
        network,
        (example,),
        str(path),
        input_names=["image"],
        output_names=["logits"],
        dynamic_shapes={"x": {0: batch, 2: 16 * height, 3: 16 * width}},
        dynamo=True,
        external_data=False,
    )


def max_difference_torch_vs_onnx(network: torch.nn.Module, path: Path, shape: tuple[int, int] = (320, 256)) -> float:
    """Largest absolute logit difference between PyTorch and ONNX Runtime (CPU) on a random input."""
    image = np.random.default_rng(0).random((2, 1, *shape), dtype=np.float32)
    with torch.no_grad():
        expected = network.eval()(torch.from_numpy(image)).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run(None, {session.get_inputs()[0].name: image})[0]
    return float(np.abs(actual - expected).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dxr.training.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--run", required=True, help="training run folder (config.json, best.json)")
    parser.add_argument("--out", default=str(DEFAULT_MODEL))
    parser.add_argument("--notes", default="", help="free text for the card (data, hardware, time)")
    args = parser.parse_args(argv)
    network = build_network()
    network.load_state_dict(torch.load(args.checkpoint, map_location="cpu"))
    out = Path(args.out)
    export_onnx(network, out)
    difference = max_difference_torch_vs_onnx(network, out)
    run = Path(args.run)
    card = {
        "name": "metacarpal-unet",
        "version": args.version,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "architecture": f"MONAI UNet, 2-D, residual units x2, channels {list(CHANNELS)}, 7 classes",
        "input": {
            "name": "image",
            "shape": "(batch, 1, H, W), H and W multiples of " + str(PAD_MULTIPLE),
            "spacing_mm": MODEL_SPACING_MM,
            "normalisation": "1st..99th percentile of the resampled image mapped to 0..1, bone bright",
        },
        "output": {"name": "logits", "classes": ["background", "II", "III", "IV", "canal II", "canal III", "canal IV"]},
        "training": json.loads((run / "config.json").read_text()),
        "validation": json.loads((run / "best.json").read_text()),
        "torch_vs_onnxruntime_max_logit_difference": difference,
        "notes": args.notes,
    }
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({"model": str(out), "sha256": card["sha256"], "max_difference": difference}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
