"""Built-in ONNX models shipped as package data (see docs/model-format.md)."""
