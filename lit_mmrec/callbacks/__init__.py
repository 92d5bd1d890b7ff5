"""Lightning callbacks of lit-mmrec."""

from lit_mmrec.callbacks.sgurinit import SGURInit

__all__ = ["SGURInit"]
