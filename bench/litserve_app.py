"""LitServe (with its batching on) serving the same LeNet-5 ONNX model with dlserve's own preprocessing.

python -m bench.litserve_app PORT [INTRA_OP_THREADS] [WORKERS]

onnxruntime threads per session: 1 by default, as dlserve's default (0 lets onnxruntime decide). WORKERS: LitServe's
inference worker processes (workers_per_device), 1 by default; the API server is a process of its own.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import litserve as ls
import numpy as np
import onnxruntime as ort

from core.model_folders import latest_version
from core.preprocessing.color import to_grayscale
from core.preprocessing.digits import mnist_digit
from service.preprocessing.images import open_image

THREADS = int(sys.argv[2]) if len(sys.argv) > 2 else 1
WORKERS = int(sys.argv[3]) if len(sys.argv) > 3 else 1
MODEL = latest_version(Path(__file__).resolve().parent.parent / "models" / "lenet5-mnist")  # what dlserve serves


class LeNetAPI(ls.LitAPI):
    def setup(self, device):
        pre = json.loads((MODEL / "manifest.json").read_text())["preprocessing"]
        self.mean, self.std = pre["mean"], pre["std"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        self.session = ort.InferenceSession(str(MODEL / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def decode_request(self, request: dict):
        img = open_image(base64.b64decode(request["images"][0]), "image", 40_000_000)
        return ((mnist_digit(to_grayscale(img), "image") - self.mean) / self.std)[None].astype(np.float32)

    def batch(self, inputs):
        return np.stack(inputs)

    def predict(self, x):
        (logits,) = self.session.run(None, {"image": x})
        z = np.exp(logits - logits.max(1, keepdims=True))
        return z / z.sum(1, keepdims=True)

    def unbatch(self, output):
        return list(output)

    def encode_response(self, probs):
        top = np.argsort(-probs)[:3]
        return {"results": [{"predictions": [{"label": str(i), "probability": float(probs[i])} for i in top]}]}


if __name__ == "__main__":
    api = LeNetAPI(max_batch_size=64, batch_timeout=0.002, api_path="/v1/classify")
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=WORKERS)
    server.run(host="127.0.0.1", port=int(sys.argv[1]), generate_client_file=False, log_level="warning")
