#!/bin/bash
# ColdItemsComparison on the best-validation checkpoints of earlier ml100k studies (full-length runs under
# MMRec's rule): diagnosis_ml100k (MGCN, MMGCN, LATTICE, FREEDOM) and lightgcn_ml100k_mmrec_rule, random and
# item-sum, seeds 999/1/2. Run from the repository root: bash docs/results/cold_items_all/evaluate_checkpoints.sh
# CHECKPOINTS (the folder holding those studies' checkpoints/, default ./checkpoints).
checkpoints=${1:-checkpoints}
out=docs/results/cold_items_all/cold_items_study
mkdir -p $out
for run in $(ls $checkpoints | grep -E '^(diagnosis_ml100k_ml100k_|lightgcn_ml100k_mmrec_rule_ml100k_)[a-z0-9]+_(random|item-sum)_s[0-9]+$'); do
  [ -f $out/$run.json ] && continue
  model=$(echo $run | sed -E 's/.*_ml100k_([a-z0-9]+)_(random|item-sum)_s[0-9]+$/\1/')
  ckpt=$(ls $checkpoints/$run/best-epoch=*.ckpt | head -1)
  OMP_NUM_THREADS=1 python train.py test --config configs/ml100k/$model.yaml --ckpt_path $ckpt \
    --trainer.logger false --trainer.enable_progress_bar false --trainer.default_root_dir /tmp/cold_items_eval \
    "--trainer.callbacks+=lit_mmrec.experiments.cold_items_compare.ColdItemsComparison" \
    --trainer.callbacks.init_args.output $out/ > /tmp/cold_items_eval_$run.log 2>&1
  echo "$run rc=$?"
done
