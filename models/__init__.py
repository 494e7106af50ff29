"""The segmentation network's definition and its ONNX Runtime inference."""
