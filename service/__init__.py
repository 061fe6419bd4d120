"""dlserve: a FastAPI + onnxruntime model server for the models `training/` exports."""
