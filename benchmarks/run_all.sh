#!/usr/bin/env bash
# Every benchmark, one after another (never in parallel: they would time each other), into runs/bench/.
set -uo pipefail
OUT=${OUT:-runs/bench}
mkdir -p "$OUT"
run() { local name=$1; shift; echo "== $name: $*" >&2; "$@" > "$OUT/$name.txt" 2> "$OUT/$name.err"; tail -25 "$OUT/$name.txt"; }
run model_speed python benchmarks/model_speed.py --sizes 320x240,640x360,1280x720 --runs 30
run net_speed   python benchmarks/net_speed.py --runs 10
run pipeline    python benchmarks/pipeline_bench.py --frames 24
run live_rate   python benchmarks/live_rate.py --seconds 8
run flicker     python benchmarks/flicker_bench.py --frames 60
run gatys       python benchmarks/gatys_bench.py --steps 30 --out "$OUT/gatys_astronaut_starry_night.png"
