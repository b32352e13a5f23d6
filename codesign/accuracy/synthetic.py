"""``synthetic_shapes``: a small detection and segmentation dataset drawn at run time from a seed, so a
detector or segmenter genome can be trained and scored without downloading anything.

Each image has a textured background (a random colour, a smooth low-frequency colour field and pixel
noise) and 1 to ``max_objects`` coloured shapes, one shape kind per class (``SHAPES``: rectangle,
disc, triangle, ring, cross, diamond; the first ``num_classes`` are used). A shape's colour is drawn
independently of its class, so only the outline tells the classes apart. Shapes overlap little (box
IoU at most ``MAX_BOX_OVERLAP``); where they do, the later one is drawn on top. For every object the
dataset gives its box (the tight box of its pixels, as drawn before any later shape covers some) and
its class; for every pixel the class of the shape on top there (0: background).

Randomness comes only from ``numpy.random.Generator`` objects, one per image, made from
``(seed, image index)``: the same arguments give byte-identical arrays, and the first ``k`` images of
``make_shapes(n, ...)`` are those of ``make_shapes(k, ...)``.
"""

from __future__ import annotations

import numpy as np

from ..errors import CodesignError

SHAPES = ("rectangle", "disc", "triangle", "ring", "cross", "diamond")   # class 1, 2, ...; 0 is background
# Pixel values before normalisation lie in [0, 1]; images are returned as (value - PIXEL_MEAN) / PIXEL_STD.
PIXEL_MEAN, PIXEL_STD = 0.5, 0.25
MAX_BOX_OVERLAP = 0.25          # largest IoU between the boxes of two shapes of one image
SHAPE_SIZE_RANGE = (0.2, 0.5)   # a shape's larger side, as a fraction of the image side
_COARSE = 4                     # the background's colour field: a 4 x 4 grid, upsampled bilinearly
_PLACEMENT_TRIES = 20           # draws of a shape's box before the shape is left out


def _check_int(name: str, value, low: int, high: "int | None" = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or \
            (high is not None and value > high):
        bound = f"in {low}..{high}" if high is not None else f">= {low}"
        raise CodesignError(f"make_shapes: {name}: expected a whole number {bound}, got {value!r}")
    return int(value)


def _upsample_matrix(size: int, grid: int) -> np.ndarray:
    """(size, grid) weights of bilinear interpolation from ``grid`` samples to ``size`` pixel centres."""
    pos = (np.arange(size) + 0.5) / size * (grid - 1)
    lo = np.minimum(pos.astype(int), grid - 2)
    frac = pos - lo
    m = np.zeros((size, grid), dtype=np.float32)
    m[np.arange(size), lo] = 1 - frac
    m[np.arange(size), lo + 1] = frac
    return m


def _inside(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Which points (u, v) of the shape's frame [-1, 1]^2 (v down) the shape covers."""
    if kind == "rectangle":
        return (np.abs(u) <= 1) & (np.abs(v) <= 1)
    if kind == "disc":
        return u * u + v * v <= 1
    if kind == "triangle":   # apex at the top middle, base along the bottom
        return (np.abs(v) <= 1) & (np.abs(u) <= (v + 1) / 2)
    if kind == "ring":
        r2 = u * u + v * v
        return (r2 <= 1) & (r2 >= 0.55 ** 2)
    if kind == "cross":
        return ((np.abs(u) <= 1 / 3) & (np.abs(v) <= 1)) | ((np.abs(v) <= 1 / 3) & (np.abs(u) <= 1))
    return np.abs(u) + np.abs(v) <= 1   # diamond


def _aspect(kind: str, rng: np.random.Generator) -> float:
    """Width / height of a shape: rectangles and diamonds vary most, discs and rings stay round-ish."""
    low, high = {"rectangle": (0.5, 2.0), "diamond": (0.6, 1.6), "disc": (0.85, 1.15),
                 "ring": (0.85, 1.15)}.get(kind, (0.75, 1.33))
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _box_iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _draw(rng: np.random.Generator, resolution: int, num_classes: int, max_objects: int, up: np.ndarray):
    """One image (3, R, R) in [0, 1], its mask (R, R) and its objects' pixel boxes and classes."""
    r = resolution
    base = rng.uniform(0.15, 0.85, size=(3, 1, 1)).astype(np.float32)
    coarse = rng.uniform(-0.2, 0.2, size=(3, _COARSE, _COARSE)).astype(np.float32)
    image = base + up @ coarse @ up.T
    mask = np.zeros((r, r), dtype=np.int64)
    boxes, labels = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        label = int(rng.integers(1, num_classes + 1))
        kind = SHAPES[label - 1]
        for _ in range(_PLACEMENT_TRIES):
            side = rng.uniform(*SHAPE_SIZE_RANGE) * r
            aspect = _aspect(kind, rng)
            w, h = (side, side / aspect) if aspect >= 1 else (side * aspect, side)
            x0, y0 = rng.uniform(0, r - w), rng.uniform(0, r - h)
            box = (x0, y0, x0 + w, y0 + h)
            if all(_box_iou(box, b) <= MAX_BOX_OVERLAP for b in boxes):
                break
        else:
            continue   # no room left for this shape
        # pixels whose centres the shape covers, in the shape's frame [-1, 1]^2
        c0, c1 = int(np.floor(x0)), int(np.ceil(x0 + w))
        r0, r1 = int(np.floor(y0)), int(np.ceil(y0 + h))
        u = ((np.arange(c0, c1) + 0.5) - (x0 + w / 2)) / (w / 2)
        v = ((np.arange(r0, r1) + 0.5) - (y0 + h / 2)) / (h / 2)
        covered = _inside(kind, u[None, :], v[:, None])
        rows, cols = np.nonzero(covered)
        if len(rows) == 0:
            continue
        # a colour far enough from the background's mean colour to be seen
        colour = rng.uniform(0.0, 1.0, size=3).astype(np.float32)
        while np.abs(colour - base[:, 0, 0]).max() < 0.35:
            colour = rng.uniform(0.0, 1.0, size=3).astype(np.float32)
        shade = 1 + rng.uniform(-0.1, 0.1, size=(1, r1 - r0, c1 - c0)).astype(np.float32)
        patch = image[:, r0:r1, c0:c1]
        image[:, r0:r1, c0:c1] = np.where(covered[None], colour[:, None, None] * shade, patch)
        mask[r0:r1, c0:c1][covered] = label
        boxes.append((c0 + cols.min(), r0 + rows.min(), c0 + cols.max() + 1, r0 + rows.max() + 1))
        labels.append(label)
    image += 0.04 * rng.standard_normal(size=image.shape, dtype=np.float32)
    return np.clip(image, 0.0, 1.0), mask, boxes, labels


def make_shapes(n: int, resolution: int = 96, seed: int = 0, num_classes: int = 3, max_objects: int = 4) -> dict:
    """``n`` images of coloured shapes on textured backgrounds, drawn from ``seed``.

    ``num_classes`` shape classes (1..6, the first of ``SHAPES``), 1 to ``max_objects`` shapes per image,
    ``resolution`` x ``resolution`` pixels (at least 32). Returns numpy arrays:

    - ``images`` (n, 3, R, R) float32, pixel values in [0, 1] normalised as (value - 0.5) / 0.25;
    - ``masks`` (n, R, R) int64: per pixel the class of the shape drawn there, 0 for background;
    - ``boxes`` (n, max_objects, 4) float32: (x1, y1, x2, y2) of each object as fractions of the image
      side (the tight box of its pixels), zero past ``counts``;
    - ``labels`` (n, max_objects) int64: each object's class (1..num_classes), 0 past ``counts``;
    - ``counts`` (n,) int64: objects per image (a shape that finds no room is left out, so rarely
      fewer than drawn, never 0).
    """
    n = _check_int("n", n, 1)
    resolution = _check_int("resolution", resolution, 32, 4096)
    num_classes = _check_int("num_classes", num_classes, 1, len(SHAPES))
    max_objects = _check_int("max_objects", max_objects, 1, 16)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise CodesignError(f"make_shapes: seed: expected a whole number >= 0, got {seed!r}")
    up = _upsample_matrix(resolution, _COARSE)
    images = np.empty((n, 3, resolution, resolution), dtype=np.float32)
    masks = np.empty((n, resolution, resolution), dtype=np.int64)
    boxes = np.zeros((n, max_objects, 4), dtype=np.float32)
    labels = np.zeros((n, max_objects), dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(i,)))
        image, masks[i], b, lab = _draw(rng, resolution, num_classes, max_objects, up)
        images[i] = (image - PIXEL_MEAN) / PIXEL_STD
        counts[i] = len(b)
        if b:
            boxes[i, :len(b)] = np.asarray(b, dtype=np.float32) / resolution
            labels[i, :len(b)] = lab
    return {"images": images, "masks": masks, "boxes": boxes, "labels": labels, "counts": counts}
