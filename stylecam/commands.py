"""The torch-side subcommands of `stylecam`, in one place both sides read without importing the other:
stylecam.realtime.cli lists them and forwards their argv, stylecam.export.cli dispatches them."""

# command word -> (module with main(argv) -> int, one-line help). Add subcommands here.
TRAIN_COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("stylecam.export.train_cli", "train a feed-forward, CIN or AdaIN net on a folder of photos"),
    "export": ("stylecam.export.onnx_export", "export a checkpoint to a self-checked ONNX file with metadata"),
    "average": ("stylecam.export.average", "average trained states of one net, weight by weight (a weight soup)"),
    "graft": ("stylecam.export.graft", "take some styles of a CIN state from norms-only fine-tunes of it"),
    "keyframe": ("stylecam.export.keyframes", "Gatys style transfer for stills, image folders and video keyframes"),
}
