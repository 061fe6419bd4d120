"""CNN+RNN image captioner: "Show, Attend and Tell" (Xu et al. 2015) on a CNN trained from scratch.

Encoder: an AlexNet/VGG-style CNN (ReLU, batch norm, max-pooling; dropout in the heads) that turns a
112x112 photo into a 7x7 grid of region features. A word-occurrence head (which caption words occur in the
photo) pretrains it, since no ImageNet weights can be had here.
Decoder: an LSTM (with forget gate) fed, at every step, the previous word and a context vector; with
`attention: "soft"` the context is a softmax-weighted sum of the regions (Xu et al.), with `attention: "none"`
it is the mean of the regions (the image as a fixed input at every step), and with `attention: "first"` it is
zero: the image only sets the initial state, Show and Tell's image-as-first-input in its usual init-state
form. The LSTM's (h, c) travel as one `state` tensor (B, 2H) so the service's beam search can gather it like
any other state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class CaptionerConfig:
    vocab: int = 3000
    concepts: int = 1000  # words of the occurrence head
    channels: tuple[int, int, int, int] = (32, 64, 128, 256)
    image_size: int = 112
    embed_dim: int = 256
    hidden: int = 512
    attn_dim: int = 256
    dropout: float = 0.3
    attention: str = "soft"  # or "none" (mean region at every step) or "first" (image only in the initial state)
    pad_id: int = 0


def conv_bn(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class ImageEncoder(nn.Module):
    """(B, 3, 112, 112) normalised RGB -> (B, 49, D) region features (D = channels[-1])."""

    def __init__(self, c: CaptionerConfig) -> None:
        super().__init__()
        a, b, m, d = c.channels
        self.features = nn.Sequential(
            *conv_bn(3, a, 2),
            *conv_bn(a, b),
            nn.MaxPool2d(2),
            *conv_bn(b, m),
            *conv_bn(m, m),
            nn.MaxPool2d(2),
            *conv_bn(m, d),
            *conv_bn(d, d),
            nn.MaxPool2d(2),
        )
        self.concepts = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(d, c.concepts))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images).flatten(2).transpose(1, 2)  # (B, L, D)

    def concept_logits(self, regions: torch.Tensor) -> torch.Tensor:
        return self.concepts(regions.mean(1))


class CaptionDecoder(nn.Module):
    def __init__(self, c: CaptionerConfig) -> None:
        super().__init__()
        d = c.channels[-1]
        self.c = c
        self.embed = nn.Embedding(c.vocab, c.embed_dim, padding_idx=c.pad_id)
        self.init_h, self.init_c = nn.Linear(d, c.hidden), nn.Linear(d, c.hidden)
        self.keys = nn.Linear(d, c.attn_dim, bias=False)  # W_f a_i, once per image
        self.query = nn.Linear(c.hidden, c.attn_dim)
        self.score = nn.Linear(c.attn_dim, 1, bias=False)
        self.gate = nn.Linear(c.hidden, d)  # beta = sigmoid(f_beta(h)), Xu et al. sec. 4.2.1
        self.cell = nn.LSTMCell(c.embed_dim + d, c.hidden)
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.hidden, c.vocab)

    def start(self, regions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """regions (B, L, D) -> keys (B, L, A), initial state (B, 2H) from the mean region."""
        mean = regions.mean(1)
        state = torch.cat([torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean))], 1)
        return self.keys(regions), state

    def attend(self, h: torch.Tensor, regions: torch.Tensor, keys: torch.Tensor):
        if self.c.attention in ("none", "first"):
            alpha = torch.full(regions.shape[:2], 1.0 / regions.shape[1], dtype=regions.dtype)
            ctx = regions.mean(1)
            return (torch.zeros_like(ctx) if self.c.attention == "first" else ctx), alpha
        e = self.score(torch.tanh(keys + self.query(h).unsqueeze(1))).squeeze(2)  # (B, L)
        alpha = torch.softmax(e, 1)
        ctx = torch.bmm(alpha.unsqueeze(1), regions).squeeze(1)  # (B, D)
        return torch.sigmoid(self.gate(h)) * ctx, alpha

    def step(self, tokens, state, regions, keys):
        """One word: tokens (B,), state (B, 2H) -> hidden (B, H), new state, attention (B, L)."""
        h, c = state.chunk(2, 1)
        ctx, alpha = self.attend(h, regions, keys)
        h, c = self.cell(torch.cat([self.drop(self.embed(tokens)), ctx], 1), (h, c))
        return h, torch.cat([h, c], 1), alpha

    def forward(self, regions: torch.Tensor, inputs: torch.Tensor):
        """Teacher forcing: inputs (B, T) starting with BOS -> logits (B, T, V), attention (B, T, L)."""
        keys, state = self.start(regions)
        hs, alphas = [], []
        for t in range(inputs.shape[1]):
            h, state, alpha = self.step(inputs[:, t], state, regions, keys)
            hs.append(h)
            alphas.append(alpha)
        return self.out(self.drop(torch.stack(hs, 1))), torch.stack(alphas, 1)


class Captioner(nn.Module):
    """Encoder and decoder as one module, for end-to-end fine-tuning."""

    def __init__(self, c: CaptionerConfig) -> None:
        super().__init__()
        self.encoder, self.decoder = ImageEncoder(c), CaptionDecoder(c)

    def forward(self, images: torch.Tensor, inputs: torch.Tensor):
        return self.decoder(self.encoder(images), inputs)


class EncoderGraph(nn.Module):
    """What encoder.onnx computes: image -> regions, attention keys, initial decoder state."""

    def __init__(self, encoder: ImageEncoder, decoder: CaptionDecoder) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, image: torch.Tensor):
        regions = self.encoder(image)
        keys, state = self.decoder.start(regions)
        return regions, keys, state


class DecoderStepGraph(nn.Module):
    """What decoder_step.onnx computes: (token, state, regions, keys) -> log-probs, new state, attention.

    Tokens that must never be generated (padding, BOS, unknown word) get log-probability -1e9, so every
    caption is made of vocabulary words."""

    def __init__(self, decoder: CaptionDecoder, banned: list[int]) -> None:
        super().__init__()
        self.decoder = decoder
        mask = torch.zeros(decoder.c.vocab)
        mask[banned] = -1e9
        self.register_buffer("banned", mask)

    def forward(self, tokens, state, regions, keys):
        h, state, alpha = self.decoder.step(tokens, state, regions, keys)
        return F.log_softmax(self.decoder.out(h) + self.banned, -1), state, alpha
