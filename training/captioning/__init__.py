"""Captioner data preparation: vocabulary, word-occurrence targets, image arrays."""
