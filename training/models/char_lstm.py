"""Character-level LSTM language model (char-rnn; Hochreiter & Schmidhuber 1997 with Gers et al.'s forget gate).

nn.LSTM computes the reference paper's eqs. 22-27 per layer and step:
  i = sigma(W_i x + U_i h + b_i), f = sigma(W_f x + U_f h + b_f), o = sigma(W_o x + U_o h + b_o),
  g = tanh(W_g x + U_g h + b_g), c' = f * c + i * g, h' = o * tanh(c').
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]  # h, c: (L, B, H) each


@dataclass
class CharLSTMConfig:
    vocab_size: int = 65
    embed_dim: int = 128
    hidden_size: int = 512
    num_layers: int = 2
    dropout: float = 0.2  # on the embedding, between LSTM layers and before the output layer


class CharLSTM(nn.Module):
    def __init__(self, config: CharLSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
        self.lstm = nn.LSTM(
            config.embed_dim, config.hidden_size, config.num_layers, dropout=config.dropout, batch_first=True
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden_size, config.vocab_size)

    def initial_state(self, batch: int) -> State:
        shape = (self.config.num_layers, batch, self.config.hidden_size)
        return torch.zeros(shape), torch.zeros(shape)

    def forward(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        x = self.drop(self.embed(tokens))  # (B, T, E)
        y, state = self.lstm(x, state)  # (B, T, H)
        return self.head(self.drop(y)), state  # (B, T, V)


class CharLSTMStep(nn.Module):
    """Export wrapper: one step. tokens (B,), h, c (L, B, H) -> logits (B, V), h, c."""

    def __init__(self, model: CharLSTM) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        logits, (h, c) = self.model(tokens.unsqueeze(1), (h, c))
        return logits[:, -1], h, c


class CharLSTMPrefill(nn.Module):
    """Export wrapper: a whole prompt at once. tokens (B, T), h, c -> last logits (B, V), h, c."""

    def __init__(self, model: CharLSTM) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        logits, (h, c) = self.model(tokens, (h, c))
        return logits[:, -1], h, c
