#!/bin/bash
# Evaluates every checkpoint of the study with ColdItems (k = 10, keep_norm off / on) on the validation and test
# items, and without it on the validation items (its test numbers are in runs.json). Run from the repository root.
out=docs/results/cold_items_ml100k/cold_items_knn
mkdir -p $out
for run in $(ls checkpoints | grep '^cold_items_ml100k_'); do
  model=$(echo $run | sed 's/cold_items_ml100k_ml100k_\([a-z0-9]*\)_.*/\1/')
  ckpt=$(ls checkpoints/$run/best-epoch=*.ckpt | head -1)
  for split in valid test; do
  for keep in false true; do
    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python train.py test --config configs/ml100k/$model.yaml --ckpt_path $ckpt \
      --trainer.logger false --trainer.enable_progress_bar false --trainer.default_root_dir /tmp/i14_test \
      "--trainer.callbacks+=lit_mmrec.callbacks.cold_items.ColdItems" --trainer.callbacks.init_args.k 10 \
      --trainer.callbacks.init_args.keep_norm $keep \
      "--trainer.callbacks+=lit_mmrec.callbacks.ColdStartEvaluation" \
      --trainer.callbacks.init_args.thresholds "[0, 5]" --trainer.callbacks.init_args.split $split \
      --trainer.callbacks.init_args.output $out/${run}_k10_keepnorm-${keep}_${split}.json > /tmp/i14_cold2_${run}_${keep}_${split}.log 2>&1
    echo "$run keep_norm=$keep split=$split rc=$?"
  done; done
  # the same checkpoint without ColdItems, validation items (the test numbers are in runs.json)
  PYTHONPATH=$PWD OMP_NUM_THREADS=1 python train.py test --config configs/ml100k/$model.yaml --ckpt_path $ckpt \
      --trainer.logger false --trainer.enable_progress_bar false --trainer.default_root_dir /tmp/i14_test \
      "--trainer.callbacks+=lit_mmrec.callbacks.ColdStartEvaluation" \
      --trainer.callbacks.init_args.thresholds "[0, 5]" --trainer.callbacks.init_args.split valid \
      --trainer.callbacks.init_args.output $out/${run}_off_valid.json > /tmp/i14_cold2_${run}_off_valid.log 2>&1
  echo "$run off valid rc=$?"
done
