"""Synthetic tasks with verifiable answers, small enough for a CPU (the tiny Qwen2's countdown puzzle)."""
