#!/usr/bin/env bash
# The cold-start measurement of docs/results.md ("New items without retraining"), one command:
#   bash experiments/cold-start.sh [SEED]
# Beauty's items first seen in the last 10% of its days are held out (experiments/cold-start/split.mjs); HM4SR
# -Image with TF-IDF text is trained on the rest (features fitted on the old items only), the new items are
# added to its model.onnx with each ID rule (hm4sr add-items), and every test user is ranked through the
# models (experiments/cold-start/evaluate.mjs). Resumes a stopped training; THREADS=1 runs it on one thread.
# Two new items have no title: --allow-missing gives them zero text rows, as featurize gives catalog items.
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-2025}
out=runs/cold-start
[ -f dist/cli/main.js ] || npm run build
hm4sr() { node dist/cli/main.js "$@"; }
[ -f $out/data/split.json ] || node experiments/cold-start/split.mjs data/amazon-beauty Beauty $out/data 0.1
[ -f $out/data/old/Beauty.text.featurizer.json ] || hm4sr featurize --data $out/data/old --text-model tfidf
run=$out/model-s$seed
resume=(); [ -f "$run/last.ckpt" ] && resume=(--resume)
threads=(); [ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
[ -f "$run/metrics.json" ] || hm4sr train --data $out/data/old --config experiments/beauty/hm4sr-tfidf-noimage.json \
  --seed "$seed" --out "$run" "${threads[@]}" "${resume[@]}"
models=()
# The default (nearest, 3 neighbours), nearest with 1 and 10, mean and zero: the table's rows.
for variant in nearest:3 nearest:1 nearest:10 mean:3 zero:3; do
  rule=${variant%%:*} k=${variant##*:}
  label=$rule; [ "$rule" = nearest ] && label=$rule-$k
  [ -f "$run/extended-$label.onnx" ] || hm4sr add-items --model "$run/model.onnx" --data $out/data/new \
    --out "$run/extended-$label.onnx" --id-rule "$rule" --neighbours "$k" --allow-missing
  models+=(--model "$label=$run/extended-$label.onnx")
done
node experiments/cold-start/evaluate.mjs --data amazon-beauty --split $out/data --base "$run/model.onnx" \
  "${models[@]}" --out "$run/cold-start.json"
