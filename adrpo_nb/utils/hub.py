"""Loading from the Hugging Face Hub or a local folder: the shared error and the offline switch."""

from __future__ import annotations

import os

__all__ = ["ModelLoadError", "hub_offline"]


class ModelLoadError(OSError):
    """A model or tokenizer could not be loaded (not a local folder, and the hub was not reachable)."""


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set: the hub is then never asked."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
