"""Readers for the standard on-disk dataset formats, with checksums."""
