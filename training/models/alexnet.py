"""An AlexNet-style CNN (Krizhevsky et al. 2012; Figure 3 of the reference paper), scaled to small photos.

Figure 3's layout: five convolutional layers with max-pooling after the first, second and fifth, then fully
connected layers with dropout, ReLU throughout. At 32x32 the 11x11 stride-4 first layer and the 224-pixel
geometry make no sense, so every convolution is 3x3 with padding 1 and each pooling halves the side: a 32x32
input leaves 4x4 maps for the classifier. Batch norm (after each pooling, where it costs a quarter as much) is
the one modern layer, and can be switched off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class AlexNetConfig:
    num_classes: int = 10
    channels: int = 3  # 3 for RGB, 1 for grayscale
    image_size: int = 32  # the side of the (square) input
    widths: list[int] = field(default_factory=lambda: [64, 128, 256, 256, 256])  # conv1..conv5
    hidden: int = 512  # the hidden fully connected layer
    dropout: float = 0.25  # before each fully connected layer
    batch_norm: bool = True
    mean: list[float] = field(default_factory=lambda: [0.4914, 0.4822, 0.4465])  # the input is (x - mean) / std
    std: list[float] = field(default_factory=lambda: [0.2470, 0.2435, 0.2616])  # per channel, x in [0, 1]


POOL_AFTER = (True, True, False, False, True)  # Figure 3: pooling after conv1, conv2 and conv5


class AlexNet(nn.Module):
    """Input (B, C, S, S) normalised images; output (B, num_classes) logits."""

    def __init__(self, config: AlexNetConfig) -> None:
        super().__init__()
        if len(config.widths) != 5:
            raise ValueError(f"AlexNet has five convolutional layers; got widths {config.widths}")
        if config.image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8 (three 2x poolings); got {config.image_size}")
        self.config = config
        layers: list[nn.Module] = []
        cin = config.channels
        for width, pool in zip(config.widths, POOL_AFTER, strict=True):
            layers.append(nn.Conv2d(cin, width, 3, padding=1, bias=not config.batch_norm))
            if pool:
                layers.append(nn.MaxPool2d(2))
            if config.batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            cin = width
        self.features = nn.Sequential(*layers)
        side = config.image_size // 8
        if side > 4 and side % 4:
            raise ValueError(f"image_size above 32 must be a multiple of 32; got {config.image_size}")
        # Larger inputs are averaged down to 4x4 so the classifier's size does not grow with the image.
        self.pool = nn.AvgPool2d(side // 4) if side > 4 else nn.Identity()
        flat = cin * min(side, 4) ** 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(config.dropout),
            nn.Linear(flat, config.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


class FlipAveraged(nn.Module):
    """Test-time augmentation inside the graph: the mean of the logits of the image and of its mirror image, so
    what is served is what was measured."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.model(x) + self.model(torch.flip(x, dims=[3]))) / 2
