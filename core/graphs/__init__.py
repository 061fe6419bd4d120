"""Helper ONNX graphs the serving engine runs (written by `python -m core.graphs.build`)."""
