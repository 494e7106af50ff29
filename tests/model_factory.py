"""A tiny, hand-built ONNX segmentation model for tests of the runtime and of ``dxr analyze`` wiring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def write_threshold_model(directory: Path) -> Path:
    """A 1x1 convolution: class 2 (metacarpal III) where the normalised input exceeds 0.5, else 0.

    Written as ``threshold.onnx`` with its model card ``threshold.json`` (name, version).
    """
    weights = np.zeros((7, 1, 1, 1), np.float32)
    bias = np.zeros(7, np.float32)
    weights[2, 0, 0, 0], bias[2] = 10.0, -5.0
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "weights", "bias"], ["logits"])],
        "threshold",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, "height", "width"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 7, "height", "width"])],
        [numpy_helper.from_array(weights, "weights"), numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = directory / "threshold.onnx"
    onnx.save(model, path)
    (directory / "threshold.json").write_text(json.dumps({"name": "threshold-test", "version": "0.0.1"}))
    return path
