"""Batch data augmentation on tensors (no per-sample Python loops)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(
    x: torch.Tensor,
    max_degrees: float = 10.0,
    max_translate: float = 0.1,
    scale: tuple[float, float] = (0.9, 1.1),
    max_shear_degrees: float = 8.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Small random rotations, shifts, scalings and shears of a (B, C, H, W) batch; the border fills with 0."""
    b = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(b, generator=generator) * (hi - lo) + lo

    angle = uniform(-max_degrees, max_degrees) * math.pi / 180
    shear = uniform(-max_shear_degrees, max_shear_degrees) * math.pi / 180
    s = uniform(*scale)
    tx, ty = uniform(-max_translate, max_translate) * 2, uniform(-max_translate, max_translate) * 2
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    theta = torch.zeros(b, 2, 3)
    # The grid maps output to input coordinates: rotation @ shear, divided by scale.
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = cos / s, (cos * tan - sin) / s, tx
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sin / s, (sin * tan + cos) / s, ty
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
