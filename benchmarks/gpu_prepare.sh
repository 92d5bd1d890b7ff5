#!/usr/bin/env bash
# Prepare, on the CPU machine (which reaches PyPI), what benchmarks/gpu_session.sh needs on the GPU
# machine (which reaches nothing): run it in the root of the checkout the device call sends (the
# session's own checkout, not a helper's worktree), then make the device call it prints.
#
#   bash benchmarks/gpu_prepare.sh
#
# It writes two git-ignored folders that the call carries:
#   .whl/  wheels of the packages lit_mmrec needs that the GPU image lacks (jsonargparse[signatures] for
#          LightningCLI: jsonargparse, docstring-parser, typeshed-client; everything else is in the image,
#          see /work/.library/device/KINDS.md), pure-Python, for the image's Python 3.12;
#   .gpu/  a copy of ../shared/data/ml100k (../shared does not travel with the checkout).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

WHEELS=(jsonargparse==4.53.0 docstring-parser==0.18.0 typeshed-client==2.15.0)
ML100K=../shared/data/ml100k

EXCLUDE="$(git rev-parse --git-common-dir)/info/exclude"
mkdir -p "$(dirname "$EXCLUDE")" && touch "$EXCLUDE"
grep -qxF '/.gpu/' "$EXCLUDE" || echo '/.gpu/' >> "$EXCLUDE"
git check-ignore -q .whl/x.whl || { echo "gpu_prepare: .whl/ is not git-ignored (.gitignore lost /.whl/?)" >&2; exit 1; }
git check-ignore -q .gpu/x || { echo "gpu_prepare: .gpu/ is not git-ignored" >&2; exit 1; }

rm -rf .whl && mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "${WHEELS[@]}"
mkdir -p .gpu && rm -rf .gpu/ml100k && cp -r "$ML100K" .gpu/ml100k && chmod -R u+w .gpu/ml100k

echo "gpu_prepare: $(ls .whl | wc -l) wheels in .whl/ ($(du -sh .whl | cut -f1)), ml100k in .gpu/ml100k ($(du -sh .gpu | cut -f1))"
echo "gpu_prepare: now make ONE device call (run tool): about 5 minutes of run, 8 at most, plus the machine's start:"
echo '  command:   bash benchmarks/gpu_session.sh $OUT'
echo '  carry:     [".whl", ".gpu"]'
echo '  timeout_s: 510'
