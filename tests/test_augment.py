"""Batched augmentations: statistics of what they do, per image."""

import torch

from vgg_sweep.augment import BatchAutoAugment, cutout, random_crop_flip


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_crop_flip_shifts_within_padding():
    n = 512
    images = torch.zeros(n, 1, 32, 32, dtype=torch.uint8)
    images[:, :, 16, 16] = 255  # one bright pixel; it may move at most 4 px each way
    out = random_crop_flip(images, _gen())
    assert out.shape == images.shape and out.dtype == torch.uint8
    ys, xs = (out[:, 0] == 255).nonzero()[:, 1], (out[:, 0] == 255).nonzero()[:, 2]
    assert len(ys) == n  # never cropped away: the pixel is 16 px from every border
    assert ys.min() >= 12 and ys.max() <= 20
    flipped_x = torch.where(xs < 16, 31 - xs, xs)  # undo a flip: 16 +- 4 or 15 -+ 4
    assert ((xs >= 11) & (xs <= 20)).all() and len(flipped_x) == n
    assert len(set(ys.tolist())) == 9  # all 9 vertical offsets occur


def test_flip_happens_about_half_the_time():
    images = torch.zeros(2000, 1, 8, 8, dtype=torch.uint8)
    images[:, :, :, :4] = 255  # left half bright
    out = random_crop_flip(images, _gen(), padding=0)
    flipped = (out[:, 0, 0, 7] == 255).float().mean().item()
    assert 0.45 < flipped < 0.55


def test_cutout_zeroes_one_square_at_the_drawn_place():
    n, size = 300, 8
    images = torch.ones(n, 3, 32, 32)
    out = cutout(images, size, _gen(5))
    holes = (out == 0).all(1)  # (n, H, W): zeroed in every channel
    gen = _gen(5)
    cy = torch.randint(0, 32, (n,), generator=gen)
    cx = torch.randint(0, 32, (n,), generator=gen)
    for i in range(n):
        y0, x0 = max(0, cy[i] - size // 2), max(0, cx[i] - size // 2)
        y1, x1 = min(32, cy[i] - size // 2 + size), min(32, cx[i] - size // 2 + size)
        expected = torch.zeros(32, 32, dtype=torch.bool)
        expected[y0:y1, x0:x1] = True
        assert torch.equal(holes[i], expected)
    assert (out[holes.unsqueeze(1).expand_as(out) == 0] == 1).all()
    full = (holes.sum((1, 2)) == size * size).float().mean()
    assert 0.4 < full < 0.8  # holes away from the border keep their full area


def test_autoaugment_draws_a_policy_per_image():
    aa = BatchAutoAugment()
    assert len(aa.policies) == 25  # the CIFAR-10 policy
    images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8,
                           generator=_gen(1))
    out = aa(images, _gen(2))
    assert out.shape == images.shape and out.dtype == torch.uint8
    changed = (out != images).flatten(1).any(1)
    # Some images are untouched (ops fire with probability p), most are changed ...
    assert 0.1 < changed.float().mean() < 0.95
    # ... and the changes differ: not one op for the whole batch.
    inverted = (out.int() + images.int() == 255).flatten(1).all(1)
    assert inverted.sum() < changed.sum() / 2
    distinct_deltas = {tuple((out[i].float() - images[i].float()).mean((1, 2)).round().tolist())
                       for i in range(256) if changed[i]}
    assert len(distinct_deltas) > 20


def test_autoaugment_is_reproducible():
    aa = BatchAutoAugment()
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=_gen(1))
    assert torch.equal(aa(images, _gen(7)), aa(images, _gen(7)))
    assert not torch.equal(aa(images, _gen(7)), aa(images, _gen(8)))


def test_autoaugment_matches_per_image_torchvision_ops():
    """Replaying the draws image by image through torchvision's own operations gives the
    batched result exactly: grouping changes the speed, not the augmentation."""
    aa = BatchAutoAugment()
    n = 96
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=_gen(3))
    out = aa(images, _gen(11))
    gen = _gen(11)
    drawn = torch.randint(0, 25, (n,), generator=gen)
    draws = [(torch.rand(n, generator=gen), torch.rand(n, generator=gen) <= 0.5)
             for _ in range(2)]
    for i in range(n):
        image = images[i:i + 1]
        for slot, (u, negate) in enumerate(draws):
            op, probability, bin_index = aa.policies[int(drawn[i])][slot]
            if u[i] > probability:
                continue
            magnitudes, signed = aa._space[op][0](10, 32, 32), aa._space[op][1]
            magnitude = 0.0 if magnitudes is None else float(magnitudes[bin_index])
            if signed and negate[i]:
                magnitude = -magnitude
            image = aa._impl._apply_image_or_video_transform(
                image, op, magnitude, interpolation=aa._impl.interpolation, fill=aa._impl._fill)
        assert torch.equal(out[i:i + 1], image), f"image {i}"
