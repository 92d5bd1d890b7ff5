"""Initialisation variants of a run: ``random`` or SG-URInit with options.

A variant is written ``random``, ``default[,<option>=<value>...]`` (the product's recipe,
``configs/sgurinit/default.yaml``) or ``<cluster_on>-<fusion>[,<option>=<value>...]``, e.g. ``item-sum``,
``user-attention``, ``item-sum,n_clusters=50``, ``item-sum,weight=0`` (local only) or
``item-sum,local_weight=0`` (cluster only), ``item-sum,blend=convex,weight=0.1,local_norm=symmetric``.
Options are the fields of :class:`lit_mmrec.init.options.SGURInitOptions` (the callback's arguments); a
variant's options are checked there when it is parsed, so a typo fails before any run starts.

A variant is the authors' published form its head names (``configs/sgurinit/<cluster_on>-<fusion>.yaml``, no
centring) with its options on top. Where those switch centring on (``centre=true`` or ``decorrelate=true``)
without naming ``centre_tables``, centring applies to every user table (``centre_tables=all``): the variant's
name says ``centre``, not the default recipe's choice of tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lit_mmrec.init.options import AUTHORS_FORM, SGURInitOptions

RANDOM = "random"
#: the product's default recipe (``configs/sgurinit/default.yaml``: the callback with no options)
DEFAULT = "default"
#: SG-URInit options a variant may set (``cluster_on`` and ``fusion`` come from its head).
OPTIONS = SGURInitOptions.names()


@dataclass(frozen=True)
class Variant:
    """One initialisation: ``options`` is ``None`` for random, else SGURInit's init arguments."""

    name: str
    options: dict[str, str] | None = field(default=None, compare=False)

    @property
    def is_random(self) -> bool:
        return self.options is None

    @property
    def is_default(self) -> bool:
        """The product's default recipe, possibly with options on top (no published form's head)."""
        return self.options is not None and self.name.split(",")[0] == DEFAULT

    @property
    def fragment(self) -> str | None:
        """The name of the ``configs/sgurinit/`` fragment: ``default`` or ``<cluster_on>-<fusion>`` (None for
        random)."""
        if self.options is None:
            return None
        if self.is_default:
            return DEFAULT
        return f"{self.options['cluster_on']}-{self.options['fusion']}"

    def callback_args(self, seed: int, fragments: str | None = None) -> list[str]:
        """``train.py`` arguments that add the SGURInit callback (nothing for random).

        With ``fragments`` (the folder of ``configs/sgurinit/``, as the run's command line should name it)
        the callback comes from the variant's fragment, as a user composes it
        (``--config configs/sgurinit/item-sum.yaml``), and only the variant's further options and the
        seed follow it; without, it is added by class path with the authors' values (:data:`AUTHORS_FORM`),
        the head's ``cluster_on`` and ``fusion`` and the variant's options."""
        if self.options is None:
            return []
        if fragments is None:
            # the published forms' fragments set the authors' values where the defaults differ: so does the
            # class path
            args = ["--trainer.callbacks+=lit_mmrec.callbacks.SGURInit"]
            authors = {} if self.is_default else {k: str(v).lower() for k, v in AUTHORS_FORM.items()}
            options = {**authors, **self.options}
        else:
            args = ["--config", f"{fragments}/{self.fragment}.yaml"]
            head = () if self.is_default else ("cluster_on", "fusion")
            options = {k: v for k, v in self.options.items() if k not in head}
        if not self.is_default and _switches_centring_on(self.options) and "centre_tables" not in options:
            options["centre_tables"] = "all"
        for key, value in {**options, "seed": str(seed)}.items():
            args += [f"--trainer.callbacks.init_args.{key}", value]
        return args

    @property
    def slug(self) -> str:
        """The name with only ``[A-Za-z0-9._-]`` (for run names, folders and files)."""
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.name.replace("=", "")).strip("-")


def parse_variant(text: str) -> Variant:
    """Parse ``random``, ``default[,key=value...]`` or ``<cluster_on>-<fusion>[,key=value...]`` (see the module
    docstring)."""
    text = text.strip()
    if text == RANDOM:
        return Variant(RANDOM)
    head, *pairs = text.split(",")
    if head != DEFAULT and head.count("-") != 1:
        raise ValueError(
            f"variant {text!r}: expected 'random', 'default[,key=value...]' or '<cluster_on>-<fusion>[,key=value...]'"
        )
    options = {} if head == DEFAULT else dict(zip(("cluster_on", "fusion"), head.split("-"), strict=True))
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in OPTIONS or not value:
            raise ValueError(f"variant {text!r}: bad option {pair!r}; options are {', '.join(OPTIONS)} as key=value")
        options[key] = value
    if head == DEFAULT:
        name, canonical = head, dict(options)
    else:
        name = f"{options.pop('cluster_on')}-{options.pop('fusion')}"
        canonical = {"cluster_on": name.split("-")[0], "fusion": name.split("-")[1], **options}
    extra = ",".join(f"{k}={v}" for k, v in options.items())
    try:
        SGURInitOptions(**{k: _typed(k, v) for k, v in canonical.items()})
    except (TypeError, ValueError) as error:
        raise ValueError(f"variant {text!r}: {error}") from None
    return Variant(f"{name},{extra}" if extra else name, canonical)


def with_option(variant: Variant, key: str, value: str) -> Variant:
    """``variant`` with ``key`` set to ``value`` (``cluster_on`` / ``fusion`` change a published form's head; on
    ``default`` they are options like the others)."""
    if variant.options is None:
        raise ValueError("a sweep needs an SG-URInit base variant, not 'random'")
    options = {**variant.options, key: value}
    head = DEFAULT if variant.is_default else f"{options.pop('cluster_on')}-{options.pop('fusion')}"
    return parse_variant(",".join([head, *(f"{k}={v}" for k, v in options.items())]))


def _switches_centring_on(options: dict[str, str]) -> bool:
    """Whether a variant's options set ``centre`` or ``decorrelate`` to true."""
    return any(options.get(key, "false").lower() == "true" for key in ("centre", "decorrelate"))


def _typed(key: str, value: str) -> Any:
    """``value`` as the type of ``SGURInitOptions.<key>``'s default (for validation only; the CLI parses
    the string itself)."""
    default = getattr(SGURInitOptions(), key)
    if isinstance(default, bool):
        if value.lower() not in ("true", "false"):
            raise ValueError(f"{key} must be true or false, got {value!r}")
        return value.lower() == "true"
    if key == "residual":
        return None if value.lower() in ("none", "null") else float(value)
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value
