#!/bin/bash
# ColdItemsComparison on one run's best-validation checkpoint (ml100k), writing <OUT>/<RUN>.json; skips a run
# already evaluated. Used by cold_items_evaluate_checkpoints.sh and cold_items_evaluate_default.sh.
# Run from the repository root: bash studies/cold_items_evaluate_run.sh CHECKPOINTS OUT RUN
checkpoints=$1 out=$2 run=$3
[ -f $out/$run.json ] && exit 0
model=$(echo $run | sed -E 's/.*_ml100k_([a-z0-9]+)_(random|item-sum[a-z_-]*)_s[0-9]+$/\1/')
ckpt=$(ls $checkpoints/$run/best-epoch=*.ckpt | head -1)
OMP_NUM_THREADS=1 python train.py test --config configs/ml100k/$model.yaml --ckpt_path $ckpt \
  --trainer.logger false --trainer.enable_progress_bar false --trainer.default_root_dir /tmp/cold_items_eval \
  "--trainer.callbacks+=studies.cold_items_compare.ColdItemsComparison" \
  --trainer.callbacks.init_args.output $out/ > /tmp/cold_items_eval_$run.log 2>&1
echo "$run rc=$?"
