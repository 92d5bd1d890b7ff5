"""Study code: the scripts that produce and analyse the studies under ``docs/results/`` (not installed)."""
