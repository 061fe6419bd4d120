"""The small helper graphs the serving engine runs (the service install has no `onnx` package, so they are
written here, once, and committed).

    python -m core.graphs.build   # rewrites core/graphs/select_rows_r*_a*.onnx and top_k.onnx (needs `onnx`)

select_rows(prev, keep, fresh) = concat(gather(prev, keep, axis), fresh, axis): the serving engine's
continuous batching keeps the decoders' recurrent state in onnxruntime memory (on the GPU under CUDA) and
uses this graph between steps to drop finished rows, reorder beams and append joining requests' rows, so
the state never travels through host memory.

top_k(log_probs, k) = TopK(log_probs, k, axis=1): each row's k best tokens, best first, ties by the lower token
id. A beam search of beam b needs only each live row's 2b best tokens (the 2b best candidates of a sentence
are among them), so the engine runs this in its worker thread right after the decoder step and the beam
bookkeeping on the event loop ranks rows x 2b candidates instead of rows x vocabulary.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

GRAPHS = Path(__file__).resolve().parent
OPSET = 17


# (rank, batch axis) of the decoders' states: GRU state (N, H); LSTM h and c (layers, N, H).
SHAPES = ((2, 0), (3, 1))


def select_rows(rank: int, axis: int) -> onnx.ModelProto:
    def dims(rows: str) -> list[str]:
        return [rows if d == axis else f"d{d}" for d in range(rank)]

    prev = helper.make_tensor_value_info("prev", TensorProto.FLOAT, dims("N"))
    keep = helper.make_tensor_value_info("keep", TensorProto.INT64, ["M"])  # rows of prev to keep, in order
    fresh = helper.make_tensor_value_info("fresh", TensorProto.FLOAT, dims("K"))  # rows to append
    out = helper.make_tensor_value_info("rows", TensorProto.FLOAT, dims("M_plus_K"))
    nodes = [
        helper.make_node("Gather", ["prev", "keep"], ["kept"], axis=axis),
        helper.make_node("Concat", ["kept", "fresh"], ["rows"], axis=axis),
    ]
    graph = helper.make_graph(nodes, f"select_rows_r{rank}_a{axis}", [prev, keep, fresh], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="dlserve")
    model.ir_version = 8  # readable by every onnxruntime >= 1.10
    onnx.checker.check_model(model)
    return model


def select_rows_path(rank: int, axis: int) -> Path:
    return GRAPHS / f"select_rows_r{rank}_a{axis}.onnx"


def top_k() -> onnx.ModelProto:
    log_probs = helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["N", "V"])
    k = helper.make_tensor_value_info("k", TensorProto.INT64, [1])
    values = helper.make_tensor_value_info("values", TensorProto.FLOAT, ["N", "K"])
    tokens = helper.make_tensor_value_info("tokens", TensorProto.INT64, ["N", "K"])
    node = helper.make_node("TopK", ["log_probs", "k"], ["values", "tokens"], axis=1, largest=1, sorted=1)
    graph = helper.make_graph([node], "top_k", [log_probs, k], [values, tokens])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="dlserve")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


TOP_K_PATH = GRAPHS / "top_k.onnx"


def main() -> None:
    for rank, axis in SHAPES:
        path = select_rows_path(rank, axis)
        path.write_bytes(select_rows(rank, axis).SerializeToString())
        print(f"wrote {path}")
    TOP_K_PATH.write_bytes(top_k().SerializeToString())
    print(f"wrote {TOP_K_PATH}")


if __name__ == "__main__":
    main()
