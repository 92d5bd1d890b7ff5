"""The user's mistakes, and how every entry point reports them: one line ``error: ...``, exit code 2.

Every error about a file the user gave (data, configuration, checkpoint) is an :class:`InputError`
whose message names the file, and the line or record where there is one. ``train.py`` and
``python -m lit_mmrec.prepare`` both print it with :func:`error_line`, so one mistake reads the
same through either door. :func:`check_integer` and :func:`check_number` are the range checks every
callback's constructor applies to its options.
"""

from __future__ import annotations

import math


class InputError(ValueError):
    """A mistake in a file or option the user gave; the message names it and says what was expected."""


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
