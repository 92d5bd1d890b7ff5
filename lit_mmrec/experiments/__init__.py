"""Experiment runner: the paper's tables, convergence, item cold start and sweeps from ``train.py`` runs.

``python -m lit_mmrec.experiments table ...`` trains every (data set, backbone, initialisation, seed)
as a ``train.py fit`` subprocess, records each run in ``runs.json`` and writes Markdown reports
(and PNG plots when matplotlib is installed) beside it. Modules:

- :mod:`~lit_mmrec.experiments.variants`: initialisations (``random``, ``item-sum``, ``item-sum,weight=0``, ...);
- :mod:`~lit_mmrec.experiments.runner`: one run's command, execution, resumption, and the ``runs.json`` store;
- :mod:`~lit_mmrec.experiments.runs_json`: the ``runs.json`` format (one run per line, floats read back exactly);
- :mod:`~lit_mmrec.experiments.logs`: reading a run's ``metrics.csv`` (merged over resumed versions);
- :mod:`~lit_mmrec.experiments.aggregate`: mean ± std over seeds, relative improvement, ``table.md``;
- :mod:`~lit_mmrec.experiments.convergence`, :mod:`~lit_mmrec.experiments.cold_start`,
  :mod:`~lit_mmrec.experiments.sweep`, :mod:`~lit_mmrec.experiments.diagnosis`: the other reports;
  :mod:`~lit_mmrec.experiments.plots`: PNGs.

Study code (replaying stopping rules, null calibrations, one study's analysis) lives in ``studies/`` beside the
package and imports it, never the reverse.
"""
