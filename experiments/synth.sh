#!/usr/bin/env bash
# The README's synthetic-data quality table with one command: HM4SR, SASRec, three ablations, most
# popular, and each run's paired NDCG@10 difference against HM4SR. Runs go to runs/synth/; every run uses
# the built-in synthetic data with its quick-start defaults (5 epochs of 512-sample batches) and seed 2025.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/cli/main.js ] || npm run build
hm4sr() { node dist/cli/main.js "$@"; }
out=runs/synth
train() { local name=$1; shift; [ -f "$out/$name/metrics.json" ] || hm4sr train --out "$out/$name" "$@"; }
train hm4sr
train sasrec --preset sasrec
for a in Text Image TMoE; do train "no$a" --ablate "$a"; done
hm4sr baseline
for r in sasrec noText noImage noTMoE; do hm4sr compare -a "$out/hm4sr" -b "$out/$r"; done
