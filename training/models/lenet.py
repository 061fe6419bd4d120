"""LeNet-5 (LeCun et al. 1998; Figure 2 of the reference paper), with optional modern choices."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LeNetConfig:
    num_classes: int = 10
    activation: str = "relu"  # "relu" (modern) or "tanh" (1998)
    pooling: str = "max"  # "max" (modern) or "avg" (1998 subsampling)
    dropout: float = 0.0  # on C5 and F6
    batch_norm: bool = False  # after C1, C3, C5 and F6 (before the activation); folded into the convs by onnxruntime
    mean: float = 0.1307  # MNIST pixel statistics in [0, 1]; the input is (x - mean) / std
    std: float = 0.3081


class LeNet5(nn.Module):
    """Input (B, 1, 28, 28) normalized digits; padded to 32x32 as in the paper; output (B, 10) logits."""

    def __init__(self, config: LeNetConfig) -> None:
        super().__init__()
        self.config = config
        self.c1 = nn.Conv2d(1, 6, 5)  # (B, 6, 28, 28)
        self.c3 = nn.Conv2d(6, 16, 5)  # (B, 16, 10, 10)
        self.c5 = nn.Conv2d(16, 120, 5)  # (B, 120, 1, 1)
        self.f6 = nn.Linear(120, 84)
        self.out = nn.Linear(84, config.num_classes)
        self.act = nn.ReLU() if config.activation == "relu" else nn.Tanh()
        self.pool = nn.MaxPool2d(2) if config.pooling == "max" else nn.AvgPool2d(2)
        self.drop = nn.Dropout(config.dropout)
        # Identity when off, so the weights of models trained without it load unchanged.
        bn = config.batch_norm
        self.n1, self.n3 = (nn.BatchNorm2d(6), nn.BatchNorm2d(16)) if bn else (nn.Identity(), nn.Identity())
        self.n5, self.n6 = (nn.BatchNorm2d(120), nn.BatchNorm1d(84)) if bn else (nn.Identity(), nn.Identity())
        # A zero pixel after normalization: the paper pads the 28x28 digit with background to 32x32.
        self.pad_value = -config.mean / config.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (2, 2, 2, 2), value=self.pad_value)  # (B, 1, 32, 32)
        x = self.pool(self.act(self.n1(self.c1(x))))  # (B, 6, 14, 14)  C1 + S2
        x = self.pool(self.act(self.n3(self.c3(x))))  # (B, 16, 5, 5)   C3 + S4
        x = self.drop(self.act(self.n5(self.c5(x))).flatten(1))  # (B, 120)  C5
        x = self.drop(self.act(self.n6(self.f6(x))))  # (B, 84)   F6
        return self.out(x)  # (B, 10)


class ShiftAveraged(nn.Module):
    """Test-time augmentation inside the graph: the mean logits of the digit and of the digit moved one pixel
    up, down, left and right (background fills the row or column it leaves), so what is served is what was
    measured. The five views go through the network as one batch."""

    def __init__(self, model: LeNet5) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        p = F.pad(x, (1, 1, 1, 1), value=self.model.pad_value)
        views = [x] + [p[:, :, dy : dy + h, dx : dx + w] for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2))]
        logits = self.model(torch.cat(views))
        # The class count as a constant, so the graph's output keeps its static width (-1, classes).
        return logits.view(len(views), -1, self.model.config.num_classes).mean(0)
