"""lit-mmrec: multimodal recommendation with PyTorch Lightning and SG-URInit user initialisation."""

import warnings

# torch's beta notices for sparse CSR tensors, which lit-mmrec uses on purpose
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")

__version__ = "0.1.0"
