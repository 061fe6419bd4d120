"""The Open Inference Protocol over gRPC: Triton's `inference.GRPCInferenceService` (the stubs `tritonclient[grpc]`
ships), served by grpcio's asyncio server in the HTTP server's process and event loop, on the same models,
admission, deadlines, keys, metrics and drain."""
