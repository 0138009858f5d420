#!/usr/bin/env bash
# One command per Beauty run of the README's tables:
#   bash experiments/beauty.sh CONFIG SEED     e.g. bash experiments/beauty.sh hm4sr-tfidf-noimage 2025
# CONFIG is a file in experiments/beauty/ (without .json), named for what it removes from HM4SR (noX: the
# modality or part X is left out; zeroimage: the image modality runs on all-zero features). The run goes to runs/beauty/CONFIG-sSEED and is
# resumed from its last checkpoint when that exists. HM4SR configs that use text get the offline TF-IDF
# features first (hm4sr featurize --text-model tfidf, skipped once they and their featurizer record exist). Data: the built-in
# amazon-beauty set; Beauty has no images, so the image modality is left out (data.missingModality "drop")
# or given zero features ("zeros"). THREADS=1 runs it on one onnxruntime thread: two such runs side by side on
# two cores do 1.27x the work of one two-thread run after another; the thread count changes only float rounding.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:?usage: bash experiments/beauty.sh CONFIG SEED (configs: $(ls experiments/beauty | sed 's/\.json$//' | tr '\n' ' '))}
seed=${2:-2025}
file=experiments/beauty/$config.json
[ -f "$file" ] || { echo "no config $file" >&2; exit 1; }
[ -f dist/cli/main.js ] || npm run build
hm4sr() { node dist/cli/main.js "$@"; }
# Featurized once (two runs started side by side would both write the table otherwise).
if ! grep -q '"sasrec"' "$file" && ! grep -q '"Text"' "$file" && ! [ -f data/amazon-beauty/Beauty.text.featurizer.json ]; then
  hm4sr featurize --data amazon-beauty --text-model tfidf
fi
out=runs/beauty/$config-s$seed
resume=(); [ -f "$out/last.ckpt" ] && resume=(--resume)
threads=(); [ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
hm4sr train --data amazon-beauty --config "$file" --seed "$seed" --out "$out" "${threads[@]}" "${resume[@]}"
