#!/usr/bin/env bash
# After a `gpu_train.sh cpu-tier-tune` call: keep each candidate's latest state in the repository,
# where the next lease resumes it (state/ is tracked, so it travels) and the next session can score
# or average it. runs/ is not kept between sessions: the seven candidates of the 2026-11-28 lease
# were lost there. One path per candidate, overwritten each time (~100 KB each); the per-step
# snapshots (tune-<name>-<step>.pt) and the logs go to runs/ to score now, and are not kept.
#   scripts/keep_tune.sh <files_at>/cpu-tier-tune.tgz [runs/lease]
set -euo pipefail
tgz=${1:?usage: keep_tune.sh cpu-tier-tune.tgz [unpack-dir]}
dest=${2:-runs/lease}
[ -f "$tgz" ] || { echo "keep_tune: no such file: $tgz (pass the tarball a cpu-tier-tune call sent back)" >&2; exit 2; }
mkdir -p "$dest" state
tar xzf "$tgz" -C "$dest"
kept=0
for f in "$dest"/state/tune-*.pt; do
  [ -e "$f" ] || continue
  name=$(basename "$f" .pt)
  [[ $name =~ -[0-9]+$ ]] && continue  # a per-step snapshot
  cp "$f" "state/$name.pt"
  echo "kept state/$name.pt" >&2
  kept=$((kept + 1))
done
(( kept > 0 )) || { echo "keep_tune: $tgz holds no state/tune-<name>.pt; is it a cpu-tier-tune tarball?" >&2; exit 2; }
echo "keep_tune: $kept state(s) in state/; commit them (git add state/tune-*.pt); snapshots and logs in $dest" >&2
