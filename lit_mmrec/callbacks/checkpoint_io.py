"""Checkpoint files that are never half-written, and one clear error when a checkpoint cannot be used.

Lightning 2.x (``TorchCheckpointIO`` -> ``_atomic_save``) serialises to memory and then writes
through an fsspec transaction; for local paths that transaction writes a temporary file in the
*system* temp folder and ``shutil.move``s it into place. When that folder is on another file
system than the checkpoints (a tmpfs ``/tmp``, a node-local disk next to a network scratch
folder), the move degrades to copy-then-delete *into the final path*: a SIGKILL during the copy
leaves a truncated ``last.ckpt``, and nothing is fsynced. :class:`AtomicCheckpointIO` writes
into a hidden temporary file next to the target, fsyncs it, ``os.replace``s it (atomic on
POSIX within one file system) and fsyncs the folder, so the path holds either the previous
checkpoint or the new one, whole.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from lit_mmrec.errors import InputError


class CheckpointError(InputError):
    """A checkpoint cannot be read or does not fit the configured model; the message names the file."""


def _is_local(path: str | os.PathLike) -> bool:
    text = str(path)
    return "://" not in text or text.startswith("file://")


def _fsync_directory(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform / file system can open a directory
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def unreadable(path: str | os.PathLike, error: BaseException) -> CheckpointError:
    """The error to raise when ``torch.load`` of ``path`` failed with ``error``."""
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    first_line = first_line.split(". ")[0]  # torch appends paragraphs of advice
    return CheckpointError(f"cannot read checkpoint {path} (truncated or corrupt file?): {first_line}")


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` into a temporary file beside the target, fsync, then ``os.replace``.

    Remote (fsspec URL) paths keep Lightning's own transaction. Loading turns any read failure
    into a :class:`CheckpointError` that names the file. A run killed while writing leaves at most
    a hidden ``.<name>.<random>.tmp`` file beside the checkpoint, which nothing reads and the next
    save of that checkpoint removes. A write that fails (a full disk) removes its temporary file,
    keeps the previous checkpoint and raises a :class:`CheckpointError` naming the file.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        target = Path(str(path).removeprefix("file://"))
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        # os.open applies the umask to 0o666, as a plain open() of the target would
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException as error:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            if isinstance(error, Exception):  # a full disk, a read-only folder; not KeyboardInterrupt
                kept = "the previous one is kept" if target.is_file() else "none written"
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise CheckpointError(f"cannot write checkpoint {target} ({kept}): {reason}") from error
            raise
        _fsync_directory(target.parent)
        for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):  # left by a killed run
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()

    def load_checkpoint(
        self,
        path: Any,
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        if _is_local(path) and not Path(str(path).removeprefix("file://")).is_file():
            raise FileNotFoundError(f"checkpoint file not found: {path}")
        try:
            checkpoint = super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
        except (FileNotFoundError, KeyboardInterrupt):
            raise
        except Exception as error:
            raise unreadable(path, error) from error
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
            raise CheckpointError(f"{path} is not a Lightning checkpoint (it holds no state_dict)")
        return checkpoint
