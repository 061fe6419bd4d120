"""The Open Inference Protocol (KServe v2): tensor datatypes, the request/response codec, graphs as v2 models."""
