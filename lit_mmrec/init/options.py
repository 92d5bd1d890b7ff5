"""SG-URInit's options: their defaults and their checks, in one place.

:class:`SGURInitOptions` is the single list of SG-URInit's recipe options, their defaults and their checks. The
functions of :mod:`lit_mmrec.init.sgurinit` take one; the callback (:class:`lit_mmrec.callbacks.SGURInit`)
takes its arguments' defaults from its fields and builds one; the experiment variants
(:mod:`lit_mmrec.experiments.variants`) accept exactly its field names.

The defaults are the product's recipe: the authors' figure's ``item-sum`` (K = 20 item clusters, local +
global, mean local term, no preprocessing, euclidean K-Means, rows rescaled to the user table's mean norm,
rows replaced) with the component shared by all users removed from the tables that meet item features
(``centre=True``, ``centre_tables="features"``), chosen on validation (see ``docs/decisions.md``). The
authors' published forms (``configs/sgurinit/{item,user}-{sum,attention}.yaml``) differ from it in
:data:`AUTHORS_FORM` and in their own ``cluster_on`` / ``fusion``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

CLUSTER_ON = ("item", "user")
FUSIONS = ("sum", "attention")
BLENDS = ("add", "convex")
USER_REPRS = ("behaviour", "local")
LOCAL_NORMS = ("mean", "symmetric")
PREPROCESS = ("none", "standardise", "whiten")
METRICS = ("euclidean", "cosine")
SCALES = ("table", "items")
CENTRE_TABLES = ("all", "id", "features")
#: Where the authors' forms differ from the default recipe (besides ``cluster_on`` and ``fusion``): they do not
#: centre. The fragments ``configs/sgurinit/{item,user}-{sum,attention}.yaml`` set it, and so does an
#: experiment variant added by class path.
AUTHORS_FORM = {"centre": False}


@dataclass(frozen=True)
class SGURInitOptions:
    r"""One SG-URInit recipe. The maths of each option is in :mod:`lit_mmrec.init.sgurinit`.

    Per modality (how :math:`e_u` is formed):

    Attributes:
        n_clusters: ``K >= 1`` of the K-Means; above the number of rows clustered it is clipped to that number,
            with a warning from the callback that says so (a sweep over ``K`` runs on every data set).
        cluster_on: ``"item"``: cluster item features (the authors' figure); ``"user"``: cluster users
            (the brief's description).
        fusion: ``"sum"``: the local term is the plain (weighted) mean of the user's item features;
            ``"attention"``: the cluster-level vector attends over them (parameter-free).
        weight: :math:`\lambda`, weight of the cluster-level (global) term.
        local_weight: :math:`\mu`, weight of the item-level (local) term (``blend="add"`` only).
        blend: ``"add"``: :math:`\mu\,\text{local} + \lambda\,\text{global}` (the figure's plain sum for
            :math:`\mu = \lambda = 1`); ``"convex"``: :math:`(1 - \lambda)\,\text{local} + \lambda\,\text{global}`
            with :math:`0 \le \lambda \le 1` (one re-implementation's form, with small :math:`\lambda`).
        temperature: :math:`\tau > 0` of the attention softmax.
        user_repr: what users are clustered on (``cluster_on="user"``): ``"behaviour"`` or ``"local"``.
        local_norm: ``"mean"``: :math:`D_u^{-1} R F`; ``"symmetric"``: :math:`D_u^{-1/2} R D_i^{-1/2} F`
            (graph-convolution normalisation; not with ``fusion="attention"``, whose weights replace it).
        preprocess: the space K-Means sees: ``"none"``, ``"standardise"`` (each column to zero mean, unit
            variance; for ID tables the raw features are also standardised before the PCA) or
            ``"whiten"`` (decorrelated, unit variance).
        metric: ``"euclidean"`` or ``"cosine"`` (K-Means on L2-normalised rows, i.e. spherical clusters).

    Per table (what is done with :math:`\bar e_u`, the mean over modalities):

    Attributes:
        centre: subtract the mean of :math:`\bar e_u` over the users with interactions (the component
            shared by all users) before rescaling.
        decorrelate: ZCA-whiten :math:`\bar e_u` over the users with interactions (centred, covariance made
            the identity, in the same basis so the rows stay comparable with the items) before rescaling:
            the diagnosis found SG-URInit's table at half the effective rank of a random one (ml100k
            LightGCN: 32 vs 63 of 64), and still lower after training. Implies ``centre``.
        centre_tables: the user tables ``centre`` / ``decorrelate`` apply to: ``"all"``; ``"id"``, only ID
            tables (scored against item ID embeddings; SG-URInit reduces the raw features by PCA for them);
            ``"features"``, only tables compared with item features (raw or through the backbone's own
            projection). The other tables get the uncentred rows. Backbones with both kinds: VBPR (ID part and
            visual preference), GRCN (ID table and per-modality preferences). No effect without ``centre`` or
            ``decorrelate``. The pure functions apply ``centre`` / ``decorrelate`` to the table they are given:
            :meth:`for_table` turns them off for a table that ``centre_tables`` leaves out.
        scale: the row norm the rows are rescaled to: ``"table"``, the user table's initial mean row norm;
            ``"items"``, the mean row norm of the item representations the table is compared with.
        residual: ``None``: the row is replaced (the specification); a float :math:`\alpha > 0`: the row
            becomes :math:`T_u + \alpha\,\rho\,\bar e_u / \lVert \bar e_u \rVert` (random start plus a
            semantic offset).
        residual_rescale: with ``residual``: rescale each new row to :math:`\rho`, so the start keeps the
            random table's row norm whatever :math:`\alpha` (without it the rows grow to about
            :math:`\rho\sqrt{1 + \alpha^2}`; cosine losses then take smaller angular steps).
        align_items: for ID tables (no feature space, PCA reduction): also write the items' reduced
            features, rescaled row by row to the item table's mean norm, into the item ID table, so users
            and items start in the same space.
    """

    n_clusters: int = 20
    cluster_on: str = "item"
    fusion: str = "sum"
    weight: float = 1.0
    local_weight: float = 1.0
    blend: str = "add"
    temperature: float = 1.0
    user_repr: str = "behaviour"
    local_norm: str = "mean"
    preprocess: str = "none"
    metric: str = "euclidean"
    centre: bool = True
    decorrelate: bool = False
    centre_tables: str = "features"
    scale: str = "table"
    residual: float | None = None
    residual_rescale: bool = False
    align_items: bool = False

    def __post_init__(self) -> None:
        for name, allowed in (
            ("cluster_on", CLUSTER_ON), ("fusion", FUSIONS), ("blend", BLENDS), ("user_repr", USER_REPRS),
            ("local_norm", LOCAL_NORMS), ("preprocess", PREPROCESS), ("metric", METRICS), ("scale", SCALES),
            ("centre_tables", CENTRE_TABLES),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        numbers = {"weight": self.weight, "local_weight": self.local_weight, "temperature": self.temperature,
                   "residual": 1.0 if self.residual is None else self.residual}
        for name, value in numbers.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if (isinstance(self.n_clusters, bool) or not isinstance(self.n_clusters, int | float)
                or not math.isfinite(self.n_clusters) or int(self.n_clusters) != self.n_clusters or self.n_clusters < 1):
            raise ValueError(f"n_clusters must be an integer >= 1, got {self.n_clusters}")
        if self.weight < 0 or self.local_weight < 0:
            raise ValueError(f"weight and local_weight must be >= 0, got {self.weight}, {self.local_weight}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.blend == "convex":
            if not 0 <= self.weight <= 1:
                raise ValueError(f"blend='convex' needs 0 <= weight <= 1, got weight={self.weight}")
            if self.local_weight != 1.0:
                raise ValueError("blend='convex' sets the local weight to 1 - weight: leave local_weight at 1")
        elif self.weight == 0 and self.local_weight == 0:
            raise ValueError("weight and local_weight are both 0: nothing would be left to initialise from")
        if self.fusion == "attention" and self.local_norm != "mean":
            raise ValueError("fusion='attention' weighs the items by attention: local_norm must be 'mean'")
        if self.residual is not None and not self.residual > 0:
            raise ValueError(f"residual must be None (replace the rows) or > 0, got {self.residual}")
        if self.residual_rescale and self.residual is None:
            raise ValueError("residual_rescale rescales a residual start: set residual (> 0) too")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every option's name, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def for_table(self, id_table: bool) -> SGURInitOptions:
        """These options for one user table (an ID table or not): ``centre`` / ``decorrelate`` switched off
        where ``centre_tables`` leaves that kind of table out."""
        if self.centre_tables in ("all", "id" if id_table else "features"):
            return self
        return dataclasses.replace(self, centre=False, decorrelate=False)

    def changed(self) -> dict[str, Any]:
        """The options that differ from the defaults (for logs)."""
        default = SGURInitOptions()
        return {n: getattr(self, n) for n in self.names() if getattr(self, n) != getattr(default, n)}
