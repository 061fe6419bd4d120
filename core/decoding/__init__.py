"""Decoding shared by every decoder model: sampling (temperature, top-k, top-p) and stop sequences."""
