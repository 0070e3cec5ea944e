"""A tiny deterministic, learnable image set (no downloads): coloured shapes on noisy backgrounds.

Three classes, drawn from a seeded numpy generator so every run gives the same bytes::

    0  horizontal bar     1  vertical bar     2  filled square

Each image is ``uint8 (H, W, 3)``: a random dark background with noise, the shape in a random
bright colour at a random position. ``make_images(n, size, seed)`` returns ``(images, labels)``;
``preprocess`` resizes and normalises like the seed's Keras example (``tf.image.resize`` +
``mobilenet_v2.preprocess_input``: pixels scaled to [-1, 1]).

Run ``python examples/image_data.py`` to print the class counts and one image's checksum.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["CLASS_NAMES", "make_images", "preprocess"]

CLASS_NAMES = ("horizontal_bar", "vertical_bar", "square")


def make_images(n: int, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images ``uint8 (n, size, size, 3)`` and their labels ``int64 (n,)`` (balanced, shuffled).

    Args:
        n: number of images.
        size: height and width (>= 12).
        seed: the generator seed; the same seed gives the same images.

    Returns:
        ``(images, labels)``.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(CLASS_NAMES)).astype(np.int64)
    images = np.empty((n, size, size, 3), np.uint8)
    long, short = size // 2, max(size // 8, 2)
    for i, label in enumerate(labels):
        background = rng.integers(0, 60, size=3)
        img = background + rng.integers(0, 40, size=(size, size, 3))  # (H, W, 3)
        colour = rng.integers(150, 256, size=3)
        h, w = {0: (short, long), 1: (long, short), 2: (size // 3, size // 3)}[int(label)]
        top, left = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
        img[top : top + h, left : left + w] = colour
        images[i] = np.clip(img, 0, 255)
    return images, labels


def preprocess(images: np.ndarray | torch.Tensor, size: int = 224) -> torch.Tensor:
    """uint8 ``(N, H, W, 3)`` -> float ``(N, 3, size, size)`` in [-1, 1] (bilinear resize, as the seed).

    Args:
        images: a batch of RGB images, channels last.
        size: the output height and width.

    Returns:
        The normalised batch, channels first.
    """
    x = torch.as_tensor(np.asarray(images)).permute(0, 3, 1, 2).float()  # (N, 3, H, W)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)  # (N, 3, size, size)
    return x / 127.5 - 1.0


if __name__ == "__main__":
    imgs, ys = make_images(12)
    print(
        "class counts:",
        np.bincount(ys).tolist(),
        "sha256 of image 0:",
        hashlib.sha256(imgs[0].tobytes()).hexdigest()[:16],
    )
