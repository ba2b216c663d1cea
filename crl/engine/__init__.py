"""Training: fit() and its phases, encoding a cohort, restarts, device choice, several GPUs."""
