"""Below everything but the probe: the offline data directory, the trained-model cache and how
results are written to disk."""
