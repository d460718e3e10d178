"""Training augmentations on whole uint8 batches, on the training device.

No per-image Python: random crop and flip are one gather each, cutout is one mask, and
AutoAugment draws a sub-policy per image, then applies each distinct (operation, magnitude)
once to the group of images that drew it. torchvision's v2.AutoAugment called on a batch
applies ONE sub-policy to the whole batch, which is not the augmentation the paper (or R4's
per-image PIL pipeline) trained with; we reuse its policy table and operations, grouped.

All randomness comes from a CPU `torch.Generator`, so a seed reproduces the augmentations on
any device. The draws reach a GPU through pinned memory and non-blocking copies: a plain
`.to("cuda")` of a CPU tensor waits for the device to finish all queued work, which would
stall the GPU once per draw, several times a batch.
"""

from __future__ import annotations

import torch


def to_device(draws: torch.Tensor, device: torch.device) -> torch.Tensor:
    """CPU random draws on `device`, without waiting for the device (see the module note)."""
    if device.type == "cuda":
        return draws.pin_memory().to(device, non_blocking=True)
    return draws.to(device)


def random_crop_flip(images: torch.Tensor, generator: torch.Generator, padding: int = 4,
                     ) -> torch.Tensor:
    """RandomCrop(size, padding) + RandomHorizontalFlip on an (N, C, H, W) batch."""
    n, channels, height, width = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    dy = to_device(torch.randint(0, 2 * padding + 1, (n,), generator=generator), images.device)
    dx = to_device(torch.randint(0, 2 * padding + 1, (n,), generator=generator), images.device)
    rows = (dy[:, None] + torch.arange(height, device=images.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width, device=images.device))[:, None, None, :]
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    chans = torch.arange(channels, device=images.device)[None, :, None, None]
    cropped = padded[batch, chans, rows, cols]
    flip = to_device(torch.rand(n, generator=generator) < 0.5, images.device)
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


def cutout(images: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one size x size square per image (DeVries & Taylor 2017: the centre is uniform over
    the image, so the hole may be clipped at the border). Apply after normalisation, so the
    hole holds the data-set mean, as in the paper."""
    n, _, height, width = images.shape
    cy = to_device(torch.randint(0, height, (n,), generator=generator), images.device)
    cx = to_device(torch.randint(0, width, (n,), generator=generator), images.device)
    ys = torch.arange(height, device=images.device)[None, :]
    xs = torch.arange(width, device=images.device)[None, :]
    in_rows = (ys >= (cy - size // 2)[:, None]) & (ys < (cy - size // 2 + size)[:, None])
    in_cols = (xs >= (cx - size // 2)[:, None]) & (xs < (cx - size // 2 + size)[:, None])
    hole = in_rows[:, :, None] & in_cols[:, None, :]
    return images.masked_fill(hole[:, None], 0)


class BatchAutoAugment:
    """The CIFAR-10 AutoAugment policy (Cubuk et al. 2019), one sub-policy drawn per image."""

    def __init__(self):
        from torchvision.transforms import v2

        self._impl = v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10)
        self.policies = self._impl._policies
        self._space = self._impl._AUGMENTATION_SPACE
        self._tables: dict[tuple[int, int], tuple] = {}

    def _variants(self, height: int, width: int):
        """All (operation, signed magnitude) pairs and, per (sub-policy, slot, negate), the
        index of the pair it applies: the table that turns per-image draws into groups."""
        variants: list[tuple[str, float]] = []
        table = torch.empty(len(self.policies), 2, 2, dtype=torch.long)
        probability = torch.empty(len(self.policies), 2)
        for policy_index, policy in enumerate(self.policies):
            for slot, (op, chance, bin_index) in enumerate(policy):
                magnitudes, signed = self._space[op][0](10, height, width), self._space[op][1]
                magnitude = 0.0 if magnitudes is None else float(magnitudes[bin_index])
                probability[policy_index, slot] = chance
                for negate in (0, 1):
                    variant = (op, -magnitude if signed and negate else magnitude)
                    if variant not in variants:
                        variants.append(variant)
                    table[policy_index, slot, negate] = variants.index(variant)
        return variants, table, probability

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, height, width = images.shape
        if (height, width) not in self._tables:
            self._tables[height, width] = self._variants(height, width)
        variants, table, probability = self._tables[height, width]
        drawn = torch.randint(0, len(self.policies), (n,), generator=generator)
        images = images.clone()
        for slot in range(2):
            applies = torch.rand(n, generator=generator) <= probability[drawn, slot]
            negate = (torch.rand(n, generator=generator) <= 0.5).long()
            chosen = torch.where(applies, table[drawn, slot, negate], -1)
            for variant in chosen.unique().tolist():
                if variant < 0:
                    continue
                op, magnitude = variants[variant]
                idx = to_device((chosen == variant).nonzero().squeeze(1), images.device)
                images[idx] = self._impl._apply_image_or_video_transform(
                    images[idx], op, magnitude, interpolation=self._impl.interpolation,
                    fill=self._impl._fill)
        return images
