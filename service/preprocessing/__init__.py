"""Input decoding and preprocessing: bytes in, model-ready arrays out."""
