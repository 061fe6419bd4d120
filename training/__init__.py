"""Offline training package: datasets, models, a generic trainer and ONNX export for dlserve."""
