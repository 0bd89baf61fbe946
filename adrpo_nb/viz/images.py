"""Image grids as arrays and PNG bytes (no plotting state; used by experiments and the book)."""

from __future__ import annotations

import base64
import io

import numpy as np
import torch

__all__ = ["image_grid", "png_bytes", "png_base64", "decode_png_base64"]


def image_grid(images: torch.Tensor | np.ndarray, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """Tile ``(N, [1,] H, W)`` grey or ``(N, 3, H, W)`` RGB images in ``[0, 1]`` into one ``uint8`` array."""
    x = images.detach().cpu().float().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim == 4 and x.shape[1] == 3:
        x = x.transpose(0, 2, 3, 1)  # (N, H, W, 3)
    if x.ndim not in (3, 4):
        raise ValueError(f"images must be (N, H, W), (N, 1, H, W) or (N, 3, H, W), got shape {x.shape}")
    n, h, w = x.shape[:3]
    rows = -(-n // nrow)
    grid = np.zeros((rows * (h + pad) + pad, nrow * (w + pad) + pad, *x.shape[3:]), dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, nrow)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = x[i]
    return (np.clip(grid, 0, 1) * 255).round().astype(np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    """Encode a ``uint8`` grey (H, W) or RGB (H, W, 3) array as PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def png_base64(images: torch.Tensor | np.ndarray, nrow: int = 8) -> str:
    """A grid of images as a base64 PNG string (what result files and static HTML embed)."""
    return base64.b64encode(png_bytes(image_grid(images, nrow))).decode("ascii")


def decode_png_base64(text: str) -> np.ndarray:
    """Back from :func:`png_base64` to a ``uint8`` array."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))
