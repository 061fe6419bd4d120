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
    elastic_alpha: float = 0.0,
    elastic_sigma: float = 4.0,
) -> torch.Tensor:
    """Small random rotations, shifts, scalings and shears of a (B, C, H, W) batch; the border fills with 0.

    With `elastic_alpha` > 0 the affine map is followed by an elastic distortion (Simard et al. 2003): a random
    displacement field, uniform in [-1, 1] per pixel, smoothed by a Gaussian of `elastic_sigma` pixels and scaled
    by `elastic_alpha` pixels. Both go into one resampling, so the digit is interpolated once."""
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
    if elastic_alpha > 0:
        grid = grid + elastic_field(b, x.shape[2], x.shape[3], elastic_alpha, elastic_sigma, generator).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def elastic_field(
    b: int, h: int, w: int, alpha: float, sigma: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B, H, W, 2) smooth random displacements in grid_sample's normalised coordinates ([-1, 1] spans the image):
    uniform noise smoothed by a separable Gaussian of `sigma` pixels, then scaled so that `alpha` is in pixels."""
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    field = torch.rand(b * 2, 1, h, w, generator=generator) * 2 - 1
    field = F.conv2d(F.pad(field, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    field = F.conv2d(F.pad(field, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    # Pixels -> normalised units: the x displacement over width, the y displacement over height.
    scale = torch.tensor([2 * alpha / w, 2 * alpha / h]).view(1, 2, 1, 1)
    return (field.view(b, 2, h, w) * scale).permute(0, 2, 3, 1)


def random_stroke_width(
    x: torch.Tensor,
    p: float = 0.5,
    max_thicken: float = 1.0,
    max_thin: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Thicker or thinner strokes for a random share `p` of a (B, C, H, W) batch of light ink on dark: each chosen
    image moves a random amount, up to `max_thicken`, of the way to its 3x3 dilation (a grey-level max filter) or,
    up to `max_thin`, to its 3x3 erosion. People write with pens from fine to felt-tipped, and a digit cropped to
    its ink and scaled to the frame gets strokes as thick as its box is small."""
    b = x.shape[0]
    amount = torch.rand(b, generator=generator) * (max_thicken + max_thin) - max_thin
    amount = torch.where(torch.rand(b, generator=generator) < p, amount, torch.zeros(b)).view(b, 1, 1, 1)
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    return x + amount.clamp(min=0) * (dilated - x) + (-amount).clamp(min=0) * (eroded - x)


def random_crop_flip(
    x: torch.Tensor,
    out_size: int,
    scale: tuple[float, float] = (0.7, 1.0),
    flip: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random square crops (side = scale x the image side, anywhere inside it), resized to out_size, and random
    horizontal flips, of a (B, C, H, W) float batch."""
    b = x.shape[0]
    s = torch.rand(b, generator=generator) * (scale[1] - scale[0]) + scale[0]
    tx = (torch.rand(b, generator=generator) * 2 - 1) * (1 - s)  # keeps the crop inside the image
    ty = (torch.rand(b, generator=generator) * 2 - 1) * (1 - s)
    sign = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0) if flip else torch.ones(b)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = s * sign, tx
    theta[:, 1, 1], theta[:, 1, 2] = s, ty
    grid = F.affine_grid(theta.to(x.dtype), [b, x.shape[1], out_size, out_size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def color_jitter(x: torch.Tensor, strength: float = 0.2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness and contrast (each within 1 +- strength) of a (B, C, H, W) batch in [0, 1]."""
    b = x.shape[0]
    bright = 1 + (torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * strength
    contrast = 1 + (torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * strength
    mean = x.mean((1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean * bright).clamp(0, 1)


def center_crop(x: torch.Tensor, out_size: int) -> torch.Tensor:
    """The central out_size x out_size pixels of a (B, C, H, W) batch."""
    top, left = (x.shape[2] - out_size) // 2, (x.shape[3] - out_size) // 2
    return x[:, :, top : top + out_size, left : left + out_size]


def random_translate_flip(
    x: torch.Tensor, pad: int = 4, flip: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random shifts of up to `pad` pixels (the border mirrored) and random horizontal flips of a (B, C, H, W)
    batch: the translations and reflections that AlexNet enlarged its training set with."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect") if pad else x
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).tolist()
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator).tolist()
    out = torch.stack([padded[i, :, y : y + h, xx : xx + w] for i, (y, xx) in enumerate(zip(dy, dx, strict=True))])
    if flip:
        mirror = torch.rand(b, generator=generator) < 0.5
        out[mirror] = out[mirror].flip(3)
    return out
