"""lit-mmrec: multimodal recommendation with PyTorch Lightning and SG-URInit user initialisation."""

import os
import warnings

# Transparent huge pages for torch's large CPU allocations (read by torch at its first large
# allocation; set THP_MEM_ALLOC_ENABLE=0 to opt out). Every training step allocates tensors of
# tens to hundreds of MB (dense gradients of fine-tuned feature tables, gathered feature rows);
# with 4 KB pages their page faults took most of a FREEDOM step on the Baby shape (1.4 -> 0.8 s
# per step measured with and without, benchmarks/benchmark.py's data).
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

# torch's beta notices for sparse CSR tensors, which lit-mmrec uses on purpose
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")

__version__ = "0.1.0"
