"""The serving engine: dynamic batching, step-level continuous batching, admission control."""
