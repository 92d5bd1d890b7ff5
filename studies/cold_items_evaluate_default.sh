#!/bin/bash
# ColdItemsComparison on the best-validation checkpoints of the new default recipe (item-sum with centre on the
# feature-space tables, chosen in default_choice_grid) and of random, ml100k, seed 999 (MGCN: seed 3, whose item-sum
# checkpoint is kept), the 11 backbones that carry item features. The default's runs: its own (VBPR, GRCN:
# default_choice_grid), the `centre` runs that compute its tables (feature-space tables only:
# centre_ml100k_late_start, centre_ml100k_grid), item-sum's (ID tables only:
# rule2, six_ml100k_mgcn). Run from the repository root:
#   bash studies/cold_items_evaluate_default.sh CHECKPOINTS   (the folder holding checkpoints/<run>/)
checkpoints=${1:-checkpoints}
out=docs/results/default_choice_grid/cold_items
mkdir -p $out
runs="centre_ml100k_late_start_ml100k_bm3_item-sum-centretrue_s999 centre_ml100k_late_start_ml100k_dragon_item-sum-centretrue_s999
centre_ml100k_late_start_ml100k_dualgnn_item-sum-centretrue_s999 centre_ml100k_grid_ml100k_freedom_item-sum-centretrue_s999
centre_ml100k_grid_ml100k_mmgcn_item-sum-centretrue_s999 centre_ml100k_grid_ml100k_slmrec_item-sum-centretrue_s999
default_choice_grid_ml100k_vbpr_item-sum-centretrue-centre_tablesfeatures_s999
default_choice_grid_ml100k_grcn_item-sum-centretrue-centre_tablesfeatures_s999
rule2_ml100k_ml100k_lattice_item-sum_s999 rule2_ml100k_ml100k_lgmrec_item-sum_s999
six_ml100k_mgcn_ml100k_mgcn_item-sum_s3"
for model in bm3 dragon dualgnn freedom mmgcn slmrec vbpr grcn lattice lgmrec; do
  runs="$runs rule2_ml100k_ml100k_${model}_random_s999"
done
runs="$runs six_ml100k_mgcn_ml100k_mgcn_random_s3"
for run in $runs; do
  bash studies/cold_items_evaluate_run.sh $checkpoints $out $run
done
