"""benchmarks/live_rate.py: the live pipeline from a looping clip camera, measured per worker count."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_live_rate_prints_rate_and_latency_for_each_worker_count(tiny_model):
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "live_rate.py"), "--model",
                        str(tiny_model("feedforward")), "--sizes", "64x48", "--workers", "1", "2", "--seconds", "1",
                        "--rounds", "1", "--camera-fps", "30", "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(row["size"], row["workers"]) for row in rows] == [("64x48", 1), ("64x48", 2)]
    for row in rows:
        # a 30 fps camera and a net far faster than it: no more frames than the camera gives, soon after
        assert 5 < row["fps"] < 40 and 0 < row["latency_ms"] < 1000 and row["frames_out"] >= 5
    assert rows[0]["ratio"] == 1.0
