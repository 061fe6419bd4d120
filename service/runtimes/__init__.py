"""Model runtimes: one small class per task, preprocess -> predict(batch) -> postprocess."""
