"""GRU encoder-decoder translator (Cho et al. 2014; Figure 6 of the reference paper), with optional additive
attention (Bahdanau et al. 2015).

Encoder: a bidirectional GRU over the source. Padding is handled by masking, not packing: the backward
direction runs over each sentence reversed within its own length, so pad tokens never reach a real state.
`attention: "bahdanau"` lets the decoder attend over every source position; `attention: "none"` is the
paper's original model, where the encoder's summary C is the only context: the memory is then one slot
holding C, and the same decoder code attends to it with weight 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Seq2SeqConfig:
    src_vocab: int = 8000
    tgt_vocab: int = 8000
    embed_dim: int = 256
    enc_hidden: int = 256  # per direction; the memory is 2 * enc_hidden wide
    dec_hidden: int = 512
    attn_dim: int = 256
    out_dim: int = 256  # the "deep output" layer before the vocabulary projection
    dropout: float = 0.3
    attention: str = "bahdanau"  # or "none"
    pad_id: int = 0
    tie_embeddings: bool = False  # the vocabulary projection shares the target embedding (needs out_dim == embed_dim)


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, S, ...) with each row's first `length` items reversed; positions past the length stay put."""
    s = x.shape[1]
    pos = torch.arange(s, device=x.device).unsqueeze(0)  # (1, S)
    idx = torch.where(pos < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - pos, pos)  # (B, S)
    idx = idx.view(idx.shape + (1,) * (x.dim() - 2)).expand_as(x)
    return torch.gather(x, 1, idx)


class Encoder(nn.Module):
    def __init__(self, c: Seq2SeqConfig) -> None:
        super().__init__()
        self.c = c
        self.embed = nn.Embedding(c.src_vocab, c.embed_dim, padding_idx=c.pad_id)
        self.fwd = nn.GRU(c.embed_dim, c.enc_hidden, batch_first=True)
        self.bwd = nn.GRU(c.embed_dim, c.enc_hidden, batch_first=True)
        self.drop = nn.Dropout(c.dropout)
        self.init = nn.Linear(2 * c.enc_hidden, c.dec_hidden)  # s_0 = tanh(W [h_fwd_last; h_bwd_first])
        self.summary = nn.Linear(2 * c.enc_hidden, 2 * c.enc_hidden)  # C for attention "none"
        self.keys = nn.Linear(2 * c.enc_hidden, c.attn_dim, bias=False)  # U_a h_j, computed once per sentence

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor):
        """tokens (B, S), lengths (B,) -> memory (B, S', 2He), keys (B, S', A), mask (B, S'), state (B, Hd)."""
        x = self.drop(self.embed(tokens))  # (B, S, E)
        f, _ = self.fwd(x)  # (B, S, He): position t sees tokens 0..t, pads come after
        b, _ = self.bwd(reverse_within_length(x, lengths))
        b = reverse_within_length(b, lengths)  # (B, S, He): position t sees tokens t..len-1
        memory = torch.cat([f, b], dim=-1)  # (B, S, 2He)
        last = (lengths - 1).clamp(min=0)
        f_last = f[torch.arange(f.shape[0]), last]  # (B, He)
        summary = torch.cat([f_last, b[:, 0]], dim=-1)  # (B, 2He)
        state = torch.tanh(self.init(summary))  # (B, Hd)
        mask = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0) < lengths.unsqueeze(1)
        if self.c.attention == "none":
            memory = torch.tanh(self.summary(summary)).unsqueeze(1)  # (B, 1, 2He): the fixed context C
            mask = mask[:, :1]
        memory = self.drop(memory)
        return memory, self.keys(memory), mask.float(), state


class Decoder(nn.Module):
    def __init__(self, c: Seq2SeqConfig) -> None:
        super().__init__()
        self.embed = nn.Embedding(c.tgt_vocab, c.embed_dim, padding_idx=c.pad_id)
        self.query = nn.Linear(c.dec_hidden, c.attn_dim)  # W_a s_{t-1}
        self.energy = nn.Linear(c.attn_dim, 1, bias=False)  # v_a
        self.cell = nn.GRUCell(c.embed_dim + 2 * c.enc_hidden, c.dec_hidden)
        self.pre_out = nn.Linear(c.dec_hidden + 2 * c.enc_hidden + c.embed_dim, c.out_dim)
        self.out = nn.Linear(c.out_dim, c.tgt_vocab)
        if c.tie_embeddings:  # Press & Wolf 2017: one matrix for the target words in and out
            if c.out_dim != c.embed_dim:
                raise ValueError(f"tie_embeddings needs out_dim == embed_dim, got {c.out_dim} and {c.embed_dim}")
            # N(0, 1) embeddings would start the logits at a standard deviation of sqrt(embed_dim).
            nn.init.normal_(self.embed.weight, std=c.embed_dim**-0.5)
            with torch.no_grad():
                self.embed.weight[c.pad_id].zero_()
            self.out.weight = self.embed.weight
        self.drop = nn.Dropout(c.dropout)

    def attend(self, state, memory, keys, mask):
        """Additive attention: e_j = v^T tanh(W s + U h_j), masked softmax, context = sum_j a_j h_j."""
        e = self.energy(torch.tanh(keys + self.query(state).unsqueeze(1))).squeeze(-1)  # (B, S)
        e = e.masked_fill(mask == 0, -1e9)
        a = torch.softmax(e, dim=-1)  # (B, S)
        return torch.bmm(a.unsqueeze(1), memory).squeeze(1), a  # (B, 2He), (B, S)

    def step(self, emb, state, memory, keys, mask):
        """One step without the vocabulary projection: -> pre-output features (B, O), new state, attention."""
        context, a = self.attend(state, memory, keys, mask)
        state = self.cell(torch.cat([emb, context], dim=-1), state)  # (B, Hd)
        feats = torch.tanh(self.pre_out(torch.cat([state, context, emb], dim=-1)))  # (B, O)
        return self.drop(feats), state, a

    def forward(self, prev_tokens, state, memory, keys, mask):
        """Teacher forcing: prev_tokens (B, T) -> logits (B, T, V). The vocabulary projection runs once, batched."""
        emb = self.drop(self.embed(prev_tokens))  # (B, T, E)
        feats = []
        for t in range(prev_tokens.shape[1]):
            f, state, _ = self.step(emb[:, t], state, memory, keys, mask)
            feats.append(f)
        return self.out(torch.stack(feats, dim=1))  # (B, T, V)


class Seq2Seq(nn.Module):
    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    def forward(self, src, lengths, prev_tokens):
        memory, keys, mask, state = self.encoder(src, lengths)
        return self.decoder(prev_tokens, state, memory, keys, mask)


class EncoderExport(nn.Module):
    """tokens (B, S) int64, lengths (B,) int64 -> memory, keys, mask, state."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.encoder = model.encoder

    def forward(self, tokens, lengths):
        return self.encoder(tokens, lengths)


class DecoderStepExport(nn.Module):
    """prev token (B,), state (B, Hd), memory, keys, mask -> log-probs (B, V), new state, attention (B, S)."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.decoder = model.decoder

    def forward(self, tokens, state, memory, keys, mask):
        d = self.decoder
        feats, state, a = d.step(d.embed(tokens), state, memory, keys, mask)
        return F.log_softmax(d.out(feats), dim=-1), state, a
