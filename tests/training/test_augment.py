"""Batch augmentations: shapes kept, shifts and mirrors as declared, reproducible from a generator."""

from __future__ import annotations

import torch

from training.augment import elastic_field, random_affine, random_stroke_width, random_translate_flip


def test_translate_flip_keeps_shape_and_moves_content_by_at_most_pad():
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0  # one bright pixel, away from the border
    out = random_translate_flip(x, pad=2, flip=False, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    ys, xs = (out[:, 0] == 1).nonzero()[:, 1], (out[:, 0] == 1).nonzero()[:, 2]
    assert len(ys) == 64 and (ys - 8).abs().max() <= 2 and (xs - 8).abs().max() <= 2
    assert len(set(zip(ys.tolist(), xs.tolist(), strict=True))) > 5  # the shifts vary


def test_no_pad_no_flip_is_the_identity_and_flip_mirrors_about_half():
    x = torch.rand(200, 3, 8, 8)
    assert torch.equal(random_translate_flip(x, pad=0, flip=False), x)
    out = random_translate_flip(x, pad=0, flip=True, generator=torch.Generator().manual_seed(1))
    mirrored = torch.tensor([torch.equal(o, i.flip(2)) for o, i in zip(out, x, strict=True)])
    same = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=True)])
    assert (mirrored | same).all() and 70 < int(mirrored.sum()) < 130


def test_the_same_generator_seed_gives_the_same_batch():
    x = torch.rand(16, 3, 8, 8)
    a = random_translate_flip(x, generator=torch.Generator().manual_seed(3))
    b = random_translate_flip(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_elastic_field_is_smooth_and_scaled_in_pixels():
    g = torch.Generator().manual_seed(0)
    field = elastic_field(32, 28, 28, alpha=34.0, sigma=4.0, generator=g)
    assert field.shape == (32, 28, 28, 2)
    pixels = field[..., 0] * 28 / 2  # x displacement back in pixels
    assert 0.3 < pixels.std().item() < 5  # about a pixel or two, as Simard et al.'s alpha 34, sigma 4 gives
    # Smooth: neighbouring displacements differ far less than the displacements themselves.
    assert (pixels[:, :, 1:] - pixels[:, :, :-1]).abs().mean() < 0.25 * pixels.abs().mean()
    doubled = elastic_field(32, 28, 28, alpha=68.0, sigma=4.0, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(doubled, 2 * field)


def test_elastic_distortion_moves_ink_but_keeps_it_and_zero_alpha_changes_nothing():
    x = torch.zeros(8, 1, 28, 28)
    x[:, :, 6:22, 12:16] = 1.0  # a thick vertical stroke
    plain = random_affine(x, generator=torch.Generator().manual_seed(5))
    same = random_affine(x, generator=torch.Generator().manual_seed(5), elastic_alpha=0.0)
    assert torch.equal(plain, same)
    bent = random_affine(x, generator=torch.Generator().manual_seed(5), elastic_alpha=34.0)
    assert not torch.allclose(bent, plain)
    # Ink moved, not lost: the distortion stretches and squeezes strokes locally, by a third at most here.
    assert torch.allclose(bent.sum((1, 2, 3)), plain.sum((1, 2, 3)), rtol=0.5)
    assert abs(bent.sum() / plain.sum() - 1) < 0.2


def test_stroke_width_thickens_or_thins_a_share_of_the_batch_and_p_zero_changes_nothing():
    x = torch.zeros(400, 1, 28, 28)
    x[:, :, 6:22, 12:15] = 1.0  # a vertical stroke three pixels wide
    assert torch.equal(random_stroke_width(x, p=0.0), x)
    out = random_stroke_width(x, p=0.5, generator=torch.Generator().manual_seed(0))
    ink, base = out.sum((1, 2, 3)), x[0].sum()
    thicker, thinner, same = ink > base + 1e-3, ink < base - 1e-3, (out == x).flatten(1).all(1)
    assert 150 < int(same.sum()) < 250 and 1.4 * thinner.sum() < thicker.sum() < 2.8 * thinner.sum()  # ranges 1 and 0.5
    # At most the full 3x3 dilation (a pixel each side) and at most half way to the 3x3 erosion.
    assert ink.max() <= 18 * 5 + 1e-3 and ink.min() >= base - 0.5 * (base - 14 * 1) - 1e-3
    assert out.min() >= 0 and out.max() <= 1
    again = random_stroke_width(x, p=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
