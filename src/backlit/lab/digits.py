"""Handwritten digits: the 1,797 real 8×8 images that scikit-learn ships (no download), and a drawing
reduced to 8×8 the same way they were made.

The images come from the UCI "optdigits" set: 43 people wrote digits on forms, each digit was
size-normalised into a 32×32 black-and-white bitmap, and the bitmap was cut into 8×8 blocks of
4×4 pixels, each block's value being its count of black pixels (0 to 16). :func:`from_drawing` does
the same to a drawing: crop to the ink, fit it centred into 32×32 keeping its aspect, threshold at
half, count per 4×4 block. backlit scales every pixel to [0, 1] (count / 16).

    Xtr, ytr, Xte, yte = digits.split(seed=0)      # (1438, 64), (1438,), (359, 64), (359,)
    images = digits.as_images(Xtr)                  # (1438, 1, 8, 8), for Conv2d
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SIDE = 8
CLASSES = 10
TEST_RATIO = 0.2
BITMAP = 32                         # the size-normalised bitmap each digit was drawn into
BLOCK = BITMAP // SIDE              # 4×4 pixels per block: a block's count is 0..16


@lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the digits need scikit-learn: pip install scikit-learn") from None
    d = load_digits()
    X = (d.data / 16.0).astype(np.float64)
    X.flags.writeable = False
    y = d.target.astype(np.int64)
    y.flags.writeable = False
    return X, y


def load() -> tuple[np.ndarray, np.ndarray]:
    """All 1,797 digits: pixels (1797, 64) in [0, 1], row by row, and labels (1797,) in 0..9."""
    X, y = _load()
    return X.copy(), y.copy()


def split(seed: int = 0, test_ratio: float = TEST_RATIO):
    """(X_train, y_train, X_test, y_test): a stratified split (every digit in the same proportion on
    both sides), the same for the same seed; 1,438 training and 359 test digits by default."""
    if not 0 < test_ratio < 1:
        raise ValueError(f"test_ratio must be between 0 and 1, got {test_ratio}")
    X, y = _load()
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for k in range(CLASSES):
        members = np.flatnonzero(y == k)
        test[rng.choice(members, size=round(len(members) * test_ratio), replace=False)] = True
    train_idx, test_idx = rng.permutation(np.flatnonzero(~test)), rng.permutation(np.flatnonzero(test))
    return X[train_idx].copy(), y[train_idx].copy(), X[test_idx].copy(), y[test_idx].copy()


def as_images(X) -> np.ndarray:
    """Flat digits (n, 64) as images (n, 1, 8, 8): the layout Conv2d takes."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != SIDE * SIDE:
        raise ValueError(f"expected digits of shape (n, {SIDE * SIDE}), got {X.shape}")
    return X.reshape(-1, 1, SIDE, SIDE)


def _area_matrix(n: int, size: int) -> np.ndarray:
    """(size, n): row i averages the part of [0, n) that target pixel i covers (exact overlaps)."""
    edges = np.arange(size + 1) * (n / size)
    lo, hi = edges[:-1, None], edges[1:, None]
    k = np.arange(n)[None, :]
    overlap = np.clip(np.minimum(hi, k + 1) - np.maximum(lo, k), 0, None)
    return overlap / (n / size)


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    """``a`` (h, w) resampled to (size, size), each target pixel the mean of the area it covers."""
    return _area_matrix(a.shape[0], size) @ a @ _area_matrix(a.shape[1], size).T


def from_drawing(canvas) -> np.ndarray:
    """A drawing (a 2-D array, ink > 0, any size up to 512 px a side) as one digit (64,) in [0, 1], made
    the way the data set was made. A blank canvas gives all zeros."""
    a = np.asarray(canvas, dtype=np.float64)
    if a.ndim != 2 or not (1 <= a.shape[0] <= 512 and 1 <= a.shape[1] <= 512):
        raise ValueError(f"a drawing is a 2-D array of at most 512 x 512 pixels, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("a drawing's pixels must be finite numbers")
    peak = a.max()
    if peak <= 0:
        return np.zeros(SIDE * SIDE)
    ink = a / peak
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.5), np.flatnonzero(ink.max(axis=0) > 0.5)
    if rows.size == 0:
        return np.zeros(SIDE * SIDE)
    ink = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = ink.shape                                   # centre it in a square, keeping its aspect
    side = max(h, w)
    square = np.zeros((side, side))
    top, left = (side - h) // 2, (side - w) // 2
    square[top:top + h, left:left + w] = ink
    bitmap = _resize(square, BITMAP) > 0.5             # the 32×32 black-and-white bitmap
    counts = bitmap.reshape(SIDE, BLOCK, SIDE, BLOCK).sum(axis=(1, 3))   # 0..16 per block
    return (counts / (BLOCK * BLOCK)).reshape(-1).astype(np.float64)
