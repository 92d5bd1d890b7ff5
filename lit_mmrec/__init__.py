"""lit-mmrec: multimodal recommendation with PyTorch Lightning and SG-URInit user initialisation.

Importing the package changes nothing in the host process: the entry points set up the console
and the allocator (:func:`lit_mmrec.console.setup_process`).
"""

__version__ = "0.1.0"
