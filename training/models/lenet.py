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
        return self.head(self.c3_map(self.c1_map(x)))

    # The stages, so that ShiftAveraged can share the first two between views.
    def c1_map(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, H, W) -> (B, 6, H - 4, W - 4)  C1
        return self.act(self.n1(self.c1(x)))

    def c3_map(self, a: torch.Tensor) -> torch.Tensor:  # C1's map -> (B, 16, H/2 - 4, W/2 - 4)  S2 + C3
        return self.act(self.n3(self.c3(self.pool(a))))

    def head(self, q: torch.Tensor) -> torch.Tensor:  # (B, 16, 10, 10) -> (B, 10)  S4, C5, F6, output
        x = self.drop(self.act(self.n5(self.c5(self.pool(q)))).flatten(1))  # (B, 120)
        x = self.drop(self.act(self.n6(self.f6(x))))  # (B, 84)
        return self.out(x)


# Test-time views as (down, right) moves in pixels: the four neighbours, or the four diagonal neighbours.
SHIFTS = {
    "shift": ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)),
    "diagonal": ((0, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)),
}


class ShiftAveraged(nn.Module):
    """Test-time augmentation inside the graph: the mean logits of the digit and of copies of it moved by one
    pixel (`shifts`), each on a canvas a pixel larger each way, so nothing leaves the frame; what is served is
    what was measured.

    The views share work. C1 runs once, on the digit padded by 3 (each view's C1 map is a 28x28 window of it);
    S2 and C3 run once per parity of the windows' offsets, since 2x2 pooling with stride 2 puts windows whose
    offsets differ by two pixels on the same grid; from S4 on the views go through as one batch."""

    def __init__(self, model: LeNet5, shifts: tuple[tuple[int, int], ...] = SHIFTS["shift"]) -> None:
        super().__init__()
        if not all(abs(dy) <= 1 and abs(dx) <= 1 for dy, dx in shifts):
            raise ValueError(f"shifts must be within one pixel, got {shifts}")
        self.model, self.shifts = model, tuple(shifts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, h, w = self.model, x.shape[2], x.shape[3]
        a = m.c1_map(F.pad(x, (3, 3, 3, 3), value=m.pad_value))  # (B, 6, h + 2, w + 2)
        offsets = [(1 - dy, 1 - dx) for dy, dx in self.shifts]  # where each view's window starts in `a`
        maps: dict[tuple[int, int], tuple[torch.Tensor, int, int]] = {}
        for parity in {(oy % 2, ox % 2) for oy, ox in offsets}:
            ys = [oy for oy, ox in offsets if (oy % 2, ox % 2) == parity]
            xs = [ox for oy, ox in offsets if (oy % 2, ox % 2) == parity]
            r0, c0 = min(ys), min(xs)
            maps[parity] = (m.c3_map(a[:, :, r0 : max(ys) + h, c0 : max(xs) + w]), r0, c0)
        rows, cols = h // 2 - 4, w // 2 - 4  # C3's map of one view
        views = []
        for oy, ox in offsets:
            q, r0, c0 = maps[(oy % 2, ox % 2)]
            y, x0 = (oy - r0) // 2, (ox - c0) // 2
            views.append(q[:, :, y : y + rows, x0 : x0 + cols])
        logits = m.head(torch.cat(views))
        # The class count as a constant, so the graph's output keeps its static width (-1, classes).
        return logits.view(len(views), -1, m.config.num_classes).mean(0)
