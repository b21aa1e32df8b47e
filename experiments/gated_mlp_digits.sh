#!/usr/bin/env bash
# Meta-trains the gated rule (input gate bounded at 10) on the MLP base task (one hidden layer of 20 sigmoid units,
# batch 128, 100 steps) on scikit-learn's digits, and ships the best meta-parameters as
# learned_opt/pretrained/gated_mlp_digits.msgpack and its metrics log as
# experiments/results/gated_mlp_digits.metrics.jsonl.
# notebooks/gates.ipynb loads that file.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/gated_mlp_digits}
learned-opt meta-train --task mlp --rule gated --rule-option max_learning_rate=10 --out "$out" --seed 0 \
  --meta-steps 300 --num-tasks 16 --meta-lr 1e-2 \
  --validation-problems 32 --validate-every 50 --no-progress
cp "$out/optimizer.msgpack" learned_opt/pretrained/gated_mlp_digits.msgpack
cp "$out/metrics.jsonl" experiments/results/gated_mlp_digits.metrics.jsonl
