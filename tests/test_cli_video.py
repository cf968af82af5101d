"""`stylecam video/image/styles/info` end to end on clips and models the test makes."""
import json

import cv2
import numpy as np
import pytest

from conftest import err_line
from stylecam.testing import make_clip, probe
from stylecam.realtime.cli import main


def test_video_end_to_end_keeps_count_rate_duration_audio(clip, ff, tmp_path, capsys, device):
    src = clip(frames=36, fps=24)
    out = tmp_path / "out.mp4"
    assert main(["video", str(src), "-o", str(out), "--model", ff, "--json", "--device", device]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 36 and summary["partial"] is False and summary["output"] == str(out)
    assert summary["device"] == device and summary["style"] == "tiny-feedforward" and summary["skipped"] == 0
    a, b = probe(src), probe(out)
    assert b["frames"] == a["frames"] == 36
    assert b["fps"] == a["fps"] == 24
    assert b["video_seconds"] == pytest.approx(a["video_seconds"], abs=1e-3)
    assert b["audio_seconds"] == pytest.approx(a["audio_seconds"], abs=0.05) and b["audio_codec"] == "aac"
    diff = np.abs(b["first"].astype(int) - a["first"].astype(int)).mean()
    inverted = np.abs(b["first"].astype(int) - (255 - a["first"].astype(int))).mean()
    assert diff > 60 and inverted < 6  # the model (1 - image) really ran
    assert not list(tmp_path.glob("*.tmp.*"))


def test_video_with_cin_style_by_number_and_options(clip, tiny_model, tmp_path, capsys):
    src = clip(frames=6, audio=False)
    out = tmp_path / "o.mkv"
    rc = main(["video", str(src), "-o", str(out), "--model", str(tiny_model("cin")), "--style", "2",
               "--strength", "0.5", "--preserve-color", "--size", "0.5", "--json", "--device", "cpu"])
    assert rc == 0
    s = json.loads(capsys.readouterr().out)
    assert s["style"] == "tiny-cin-green" and s["frames"] == 6
    assert probe(out)["width"] == 64 and probe(out)["audio_seconds"] is None


def test_threads_reach_the_engine_and_bad_counts_exit_2(clip, ff, tmp_path, capsys):
    src = clip(frames=3, audio=False)
    assert main(["video", str(src), "-o", str(tmp_path / "o.mp4"), "--model", ff, "--threads", "1", "--json",
                 "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["threads"] == 1
    with pytest.raises(SystemExit) as stop:  # argparse's own usage error
        main(["video", str(src), "-o", str(tmp_path / "p.mp4"), "--model", ff, "--threads", "0"])
    assert stop.value.code == 2
    assert "--threads: '0' is not a whole number of 1 or more" in capsys.readouterr().err
    assert not (tmp_path / "p.mp4").exists()
    with pytest.raises(SystemExit) as stop:
        main(["video", str(src), "-o", str(tmp_path / "p.mp4"), "--model", ff, "--workers", "none"])
    assert stop.value.code == 2
    assert "--workers: 'none' is not a whole number of 1 or more" in capsys.readouterr().err
    assert not (tmp_path / "p.mp4").exists()


def test_frame_workers_give_the_same_video_as_one(clip, tiny_model, tmp_path, capsys):
    from stylecam.realtime.sources import open_source

    src = clip(frames=20, audio=False)
    model = str(tiny_model("cin"))

    def frames(path):  # through stylecam's own reader
        source = open_source(str(path))
        try:
            return [f.image.astype(int) for f in source]
        finally:
            source.close()

    runs = {}
    for workers in ("1", "3"):
        out = tmp_path / f"w{workers}.mp4"
        assert main(["video", str(src), "-o", str(out), "--model", model, "--style", "2", "--workers", workers,
                     "--json", "--device", "cpu"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["workers"] == int(workers) and summary["frames"] == 20
        runs[workers] = frames(out)
    src_frames = frames(src)
    assert len(runs["1"]) == len(runs["3"]) == 20
    assert max(np.abs(a - b).max() for a, b in zip(runs["1"], runs["3"])) <= 2  # frame for frame, in order
    # and the clip's frames differ enough that a swapped pair would show
    assert min(np.abs(a - b).mean() for a, b in zip(src_frames, src_frames[1:])) > 1


def test_odd_size_rotated_clip_comes_back_at_its_size(tmp_path, ff, capsys):
    src = make_clip(tmp_path / "odd.mp4", frames=5, size=(123, 77), rotation=90)
    out = tmp_path / "odd-out.mp4"
    assert main(["video", str(src), "-o", str(out), "--model", ff, "-q"]) == 0
    b = probe(out)
    assert (b["width"], b["height"]) == (123, 77) and b["frames"] == 5 and b["rotation"] == 90


def test_missing_input(ff, tmp_path, capsys):
    assert main(["video", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4"), "--model", ff]) == 2
    assert "does not exist" in err_line(capsys)


def test_corrupt_input_video(ff, tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x01garbage" * 500)
    assert main(["video", str(bad), "-o", str(tmp_path / "o.mp4"), "--model", ff]) == 2
    assert "cannot open" in err_line(capsys)


def test_corrupt_model(clip, tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx at all")
    assert main(["video", str(clip(frames=2)), "-o", str(tmp_path / "o.mp4"), "--model", str(bad)]) == 2
    assert "cannot load model" in err_line(capsys)
    assert not list(tmp_path.glob("o*"))


def test_unknown_style(clip, ff, tmp_path, capsys):
    assert main(["video", str(clip(frames=2)), "-o", str(tmp_path / "o.mp4"), "--model", ff, "--style", "monet"]) == 2
    assert "unknown style 'monet'" in err_line(capsys)


def test_output_dir_missing(clip, ff, tmp_path, capsys):
    assert main(["video", str(clip(frames=2)), "-o", str(tmp_path / "no" / "o.mp4"), "--model", ff]) == 2
    assert "output folder" in err_line(capsys)


def test_too_small_size(clip, ff, tmp_path, capsys):
    assert main(["video", str(clip(frames=2)), "-o", str(tmp_path / "o.mp4"), "--model", ff, "--size", "8x6"]) == 2
    assert "smaller than" in err_line(capsys)
    assert not list(tmp_path.glob("o*"))


def test_bad_strength_and_size_strings(clip, ff, tmp_path, capsys):
    src = str(clip(frames=2))
    assert main(["video", src, "-o", str(tmp_path / "o.mp4"), "--model", ff, "--strength", "3"]) == 2
    assert "--strength" in err_line(capsys)
    assert main(["video", src, "-o", str(tmp_path / "o.mp4"), "--model", ff, "--size", "huge"]) == 2
    assert "640x360" in err_line(capsys)


def test_stabilize_runs_and_bad_strength_is_a_user_error(clip, ff, tmp_path, capsys):
    src = str(clip(frames=6))
    out = tmp_path / "o.mp4"
    assert main(["video", src, "-o", str(out), "--model", ff, "--stabilize", "0.5", "--json", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 6 and out.is_file()
    assert main(["video", src, "-o", str(tmp_path / "p.mp4"), "--model", ff, "--stabilize", "1.5"]) == 2
    assert "strength" in err_line(capsys)


def test_image_command_odd_size_and_folder(tiny_model, tmp_path, capsys):
    ff = str(tiny_model("feedforward", op="conv", size_multiple=8))
    img = np.zeros((77, 123, 3), np.uint8)
    img[..., 2] = 200  # BGR red
    cv2.imwrite(str(tmp_path / "in.png"), img)
    assert main(["image", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--model", ff]) == 0
    out = cv2.imread(str(tmp_path / "out.png"))
    assert out.shape == (77, 123, 3) and out[40, 60, 0] > 150 and out[40, 60, 2] < 50  # R<->B swapped
    folder = tmp_path / "frames"
    folder.mkdir()
    for n in ("b.png", "a.png"):
        cv2.imwrite(str(folder / n), img)
    assert main(["image", str(folder), "-o", str(tmp_path / "styled"), "--model", ff, "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["images"] == 2 and sorted(p.name for p in (tmp_path / "styled").iterdir()) == ["a.png", "b.png"]


def test_a_single_picture_gets_every_core_and_a_folder_frame_workers(tiny_model, tmp_path, capsys):
    from stylecam.realtime.session import frame_workers

    ff = str(tiny_model("feedforward"))
    folder = tmp_path / "pics"
    folder.mkdir()
    for n in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(folder / n), np.full((24, 32, 3), 90, np.uint8))
    assert main(["image", str(folder / "a.png"), "-o", str(tmp_path / "one.png"), "--model", ff, "--json",
                 "--device", "cpu"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert (one["workers"], one["threads"]) == frame_workers(1, None)  # one picture: every core on it
    assert main(["image", str(folder), "-o", str(tmp_path / "out"), "--model", ff, "--json", "--device", "cpu"]) == 0
    many = json.loads(capsys.readouterr().out)
    assert (many["workers"], many["threads"]) == frame_workers(None, None) and many["images"] == 3
    assert main(["image", str(folder / "a.png"), "-o", str(tmp_path / "two.png"), "--model", ff, "--json",
                 "--device", "cpu", "--workers", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["workers"] == 2  # asked for: given


def test_styles_command_lists_and_json(tiny_model, capsys):
    models = ["--model", str(tiny_model("feedforward")), "--model", str(tiny_model("cin"))]
    assert main(["styles", *models]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["INDEX", "NAME", "KIND"] and len(lines) == 5
    assert lines[2].split()[:3] == ["2", "tiny-cin-red", "cin"]
    assert main(["styles", *models, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[3] == {"index": 4, "name": "tiny-cin-blue", "kind": "cin", "artist": "A", "title": "Tblue",
                       "year": "1900", "model": "tiny-cin.onnx"}


def test_info_json_reports_runtime_and_tested_providers(ff, capsys):
    assert main(["info", "--model", ff, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["onnxruntime"]["version"] and any(p.startswith("onnxruntime") for p in info["onnxruntime"]["packages"])
    assert info["providers"]["CPUExecutionProvider"] == "ok (loads)"
    assert isinstance(info["problems"], list) and info["devices"]["cpu_physical_cores"] >= 1


def test_info_flags_two_onnxruntime_packages():
    from importlib import metadata

    from stylecam.realtime import cli

    problems = cli.collect_info(version=lambda p: "1.20.0" if p == "onnxruntime-gpu" else metadata.version(p))["problems"]
    assert any("onnxruntime-gpu" in p and "pip uninstall" in p for p in problems)


def test_torch_commands_are_forwarded(monkeypatch, capsys):
    import sys
    import types

    seen = []
    fake = types.ModuleType("stylecam.export.cli")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "stylecam.export.cli", fake)
    assert main(["keyframe", "--help-me"]) == 0 and seen == [["keyframe", "--help-me"]]

    from stylecam.export.errors import UserError  # the product's one class, re-exported on the torch side

    def boom(argv):
        raise UserError("no such style image x.jpg; pass an existing file")

    fake.main = boom
    assert main(["train", "x"]) == 2
    assert err_line(capsys) == "stylecam: error: no such style image x.jpg; pass an existing file"

    class LookAlike(Exception):  # matched by class, not by name: a stranger's UserError is a bug
        pass
    LookAlike.__name__ = "UserError"

    def bug(argv):
        raise LookAlike("internal")

    fake.main = bug
    with pytest.raises(LookAlike):
        main(["train", "x"])


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "video" in capsys.readouterr().err


def test_adain_style_image_is_the_default_style(clip, tiny_model, tmp_path, capsys):
    model = str(tiny_model("adain"))
    style = tmp_path / "blue.png"
    cv2.imwrite(str(style), np.full((40, 36, 3), (255, 0, 0), np.uint8))  # BGR blue
    out = tmp_path / "o.mp4"
    rc = main(["video", str(clip(frames=4, audio=False)), "-o", str(out), "--model", model,
               "--style-image", str(style), "--json"])
    assert rc == 0
    assert json.loads(capsys.readouterr().out)["style"] == "blue"
    assert list((tmp_path / "cache").glob("adain-*.npz"))  # STYLECAM_CACHE_DIR from conftest
    assert main(["styles", "--model", model, "--style-image", str(style), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[-1]["name"] == "blue" and rows[-1]["image"] == str(style) and len(rows) == 3
