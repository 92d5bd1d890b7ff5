"""The user's mistakes, and how every entry point reports them: one line ``error: ...``, exit code 2.

Every error about a file the user gave (data, configuration, checkpoint) is an :class:`InputError`
whose message names the file, and the line or record where there is one. ``train.py`` and
``python -m lit_mmrec.prepare`` both print it with :func:`error_line`, so one mistake reads the
same through either door. :func:`check_integer` and :func:`check_number` are the range checks every
callback's constructor applies to its options; :func:`probe_folder` checks an output folder before a run.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
from pathlib import Path


class InputError(ValueError):
    """A mistake in a file or option the user gave; the message names it and says what was expected."""


def require_dense_representations(callback: str, module: object) -> None:
    """One line (:class:`InputError`) when ``callback`` reads representation rows that ``module`` does not have."""
    if not getattr(module, "dense_representations", True):
        raise InputError(f"{callback}: {type(module).__name__} scores without dense user and item representations, "
                         f"so {callback} does not apply to it; leave it out for this backbone")


def require_ddp_unused_parameters(model: str, trainer: object,
                                  why: str = "trains parameters outside its recommender loss") -> None:
    """One line (:class:`InputError`) when ``trainer`` fits ``model`` with DDP that expects every parameter to
    receive a gradient in every step, which a backbone with parameters outside its main loss (e.g. a model
    trained by its own optimiser) or used in some steps only breaks deep inside torch; ``why`` says which."""
    from lightning.pytorch.strategies import DDPStrategy

    strategy = getattr(trainer, "strategy", None)
    if isinstance(strategy, DDPStrategy) and getattr(trainer, "world_size", 1) > 1 \
            and not strategy._ddp_kwargs.get("find_unused_parameters", False):
        raise InputError(f"{model} {why}: under DDP use "
                         f"--trainer.strategy ddp_find_unused_parameters_true")


def _wrapped(error: BaseException) -> BaseException | None:
    """The exception ``error`` wraps, as Python's traceback shows it: ``raise ... from other``
    (``__cause__``) or one raised while handling another (``__context__``), but nothing after
    ``raise ... from None`` (``__suppress_context__``): that is how a message that already says
    everything hides the low-level error it replaces."""
    return error.__cause__ or (None if error.__suppress_context__ else error.__context__)


def chain(error: BaseException) -> list[BaseException]:
    """``error`` and what it wraps, outermost first."""
    errors = [error]
    while (inner := _wrapped(errors[-1])) is not None and all(inner is not e for e in errors):
        errors.append(inner)
    return errors


def root_cause(error: BaseException) -> BaseException:
    """The innermost exception of :func:`chain`."""
    return chain(error)[-1]


def error_line(error: BaseException) -> str:
    """``error: <message>`` on one line: our own error if the chain holds one (the outermost, which
    knows the most), else the innermost exception's message."""
    ours = next((e for e in chain(error) if isinstance(e, InputError)), None)
    shown = ours if ours is not None else root_cause(error)
    message = " ".join(str(shown).split()) or type(shown).__name__
    return f"error: {message}"


def check_integer(owner: str, name: str, value: object, minimum: int) -> None:
    """Raise ValueError ``"<owner>: <name> must be an integer >= <minimum>, got ..."`` unless ``value`` is one
    (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")


def check_number(owner: str, name: str, value: object, minimum: float | None = None) -> None:
    """Raise ValueError ``"<owner>: <name> must be a finite number (>= minimum), got ..."`` unless ``value`` is
    a finite int or float (not a bool) at least ``minimum``."""
    finite = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if not finite or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{owner}: {name} must be a finite number{bound}, got {value!r}")


#: the probe's name is as long as the longest file name lit-mmrec writes into an output folder
#: (``.best-epoch=NNN.ckpt.<8 hex>.tmp``, a temporary checkpoint), so that a name too long fails here
PROBE_LENGTH = 40


def probe_folder(folder: Path, option: str) -> None:
    """Create ``folder`` (and its parents), write and remove a probe file in it, then remove the folders it
    created: a folder that cannot be made or written to (a file in its place, no permission, a read-only or
    full file system, a name too long) fails now, with one line naming it and the option, not when the first
    checkpoint is written."""
    folder = folder.expanduser()
    created = []
    parent = folder.absolute()
    while not parent.exists() and parent != parent.parent:
        created.append(parent)
        parent = parent.parent
    probe = folder / f".lit-mmrec-probe-{os.getpid()}".ljust(PROBE_LENGTH, "-")  # one per process
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, b"probe")
        finally:
            os.close(descriptor)
            probe.unlink()
    except FileExistsError:
        raise InputError(f"output folder {folder} ({option}): a file is in its place") from None
    except OSError as error:
        reason = "a file is in the way" if error.errno == errno.ENOTDIR else error.strerror or str(error)
        raise InputError(f"cannot write to the output folder {folder} ({option}): {reason}") from None
    finally:
        for path in created:
            with contextlib.suppress(OSError):
                path.rmdir()
