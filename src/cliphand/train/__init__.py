"""Training: the loop, checkpoints, distributed runs and multi-seed summaries."""
