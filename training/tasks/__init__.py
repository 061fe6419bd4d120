"""Thin per-task entry points that connect data, model, trainer and export."""
