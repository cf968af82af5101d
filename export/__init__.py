"""Model making (torch only): nets, losses, training, ONNX export, Gatys keyframes."""
