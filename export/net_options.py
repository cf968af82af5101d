"""The transformer nets' option values, in one torch-free place: nets.py checks a config against them
and train_cli.py offers them as choices (its parser is built without importing torch)."""
ARCHS = ("johnson", "fast")
PADDINGS = ("reflect", "zeros")
ANTIALIAS = ("none", "down", "full")
UPSAMPLES = ("shuffle", "bilinear")
TRAIN_ONLY = ("all", "norms")  # which weights a fine-tune trains (norms: the CIN scales and shifts)
