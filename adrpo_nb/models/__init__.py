"""Model families and their adapters (how to sample, get velocities / log-probs, and the reference)."""
