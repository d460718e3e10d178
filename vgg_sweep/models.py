"""Networks by name: `build_model("vgg6", activation="GELU", ...)`.

Each builder takes the input shape (channels, height, width), the class count, a factory for
the activation module and the config's batch_norm/dropout; models know nothing of data sets
or W&B. A new model is a builder here and its entry in `vgg_sweep.registry.MODELS`, which
names the builder (`"vgg_sweep.models:vgg6"`), so the config lists it without importing torch.
"""

from __future__ import annotations

import torch
from torch import nn

from vgg_sweep.registry import ACTIVATIONS, MODELS


def build_model(name: str, in_shape: tuple[int, int, int], num_classes: int, *,
                activation: str = "ReLU", batch_norm: bool = True, dropout: float = 0.0,
                ) -> nn.Module:
    """The CNN registered as `name` (a model of family "cnn")."""
    act = ACTIVATIONS[activation].load()
    return MODELS[name].load()(in_shape, num_classes, act=act, batch_norm=batch_norm,
                               dropout=dropout)


def _kaiming_init(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def _conv_stack(layout: list, in_channels: int, act, batch_norm: bool) -> nn.Sequential:
    """VGG-style stack: ints are conv3x3 widths (conv, [BN], activation), 'M' a 2x2 max-pool."""
    layers: list[nn.Module] = []
    for item in layout:
        if item == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        layers.append(nn.Conv2d(in_channels, item, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(act())
        in_channels = item
    return nn.Sequential(*layers)


def vgg6(in_shape, num_classes, *, act, batch_norm, dropout):
    """R4: [64, 64, M, 128, 128, M], global average pooling, Linear(128 -> classes)."""
    model = nn.Sequential(
        _conv_stack([64, 64, "M", 128, 128, "M"], in_shape[0], act, batch_norm),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(128, num_classes))
    _kaiming_init(model)
    return model


def simplecnn(in_shape, num_classes, *, act, batch_norm, dropout):
    """R3: conv blocks 32, 64, M, 128, 128, M, then Linear(128*H/4*W/4 -> 512), dropout, 10."""
    _, height, width = in_shape
    return nn.Sequential(
        _conv_stack([32, 64, "M", 128, 128, "M"], in_shape[0], act, batch_norm),
        nn.Flatten(), nn.Linear(128 * (height // 4) * (width // 4), 512), act(),
        nn.Dropout(dropout), nn.Linear(512, num_classes))


def torchvision_resnet(in_shape, num_classes, *, arch: str, act, batch_norm, dropout):
    """torchvision's ResNet `arch` (resnet18, ...) with the small-image stem: 3x3 stride-1
    conv1, no max-pool.

    batch_norm and dropout are fixed by the architecture (always BN, no dropout).
    """
    import torchvision

    model = getattr(torchvision.models, arch)(weights=None, num_classes=num_classes)
    model.conv1 = nn.Conv2d(in_shape[0], 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    _replace_relu(model, act)
    return model


def _replace_relu(module: nn.Module, act) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, name, act())
        else:
            _replace_relu(child, act)


class _CifarBlock(nn.Module):
    """He et al. (2016) CIFAR basic block; option A shortcut (strided identity, zero-padded)."""

    def __init__(self, in_planes: int, planes: int, stride: int, act):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = act()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = act()
        self.stride, self.pad = stride, planes - in_planes

    def forward(self, x):
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        shortcut = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        if self.pad:
            shortcut = nn.functional.pad(shortcut, (0, 0, 0, 0, self.pad // 2,
                                                    self.pad - self.pad // 2))
        return self.act2(out + shortcut)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for small images: 3 stages of n basic blocks, 16/32/64 channels."""

    def __init__(self, depth: int, in_channels: int, num_classes: int, act):
        super().__init__()
        blocks = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 16, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(16), act())
        layers, in_planes = [], 16
        for stage, planes in enumerate((16, 32, 64)):
            for index in range(blocks):
                stride = 2 if stage > 0 and index == 0 else 1
                layers.append(_CifarBlock(in_planes, planes, stride, act))
                in_planes = planes
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(64, num_classes))
        _kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def cifar_resnet(in_shape, num_classes, *, depth: int, act, batch_norm, dropout):
    """CifarResNet of `depth` (20, 32, 56, ...); batch_norm and dropout fixed as above."""
    return CifarResNet(depth, in_shape[0], num_classes, act)
