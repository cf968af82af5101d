"""The live side of stylecam: capture -> infer (onnxruntime) -> render. Never imports torch."""
