#!/bin/bash
# ColdItemsComparison on the best-validation checkpoints of earlier ml100k studies (full-length runs under
# MMRec's rule): diagnosis_ml100k (MGCN, MMGCN, LATTICE, FREEDOM) and lightgcn_ml100k_mmrec_rule, random and
# item-sum, seeds 999/1/2. Run from the repository root: bash studies/cold_items_evaluate_checkpoints.sh
# CHECKPOINTS (the folder holding those studies' checkpoints/, default ./checkpoints).
checkpoints=${1:-checkpoints}
out=docs/results/cold_items_all/cold_items_study
mkdir -p $out
for run in $(ls $checkpoints | grep -E '^(diagnosis_ml100k_ml100k_|lightgcn_ml100k_mmrec_rule_ml100k_)[a-z0-9]+_(random|item-sum)_s[0-9]+$'); do
  bash studies/cold_items_evaluate_run.sh $checkpoints $out $run
done
