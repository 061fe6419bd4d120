"""Benchmarks: dlserve against peer servers, driven by a real load generator (hey) on 127.0.0.1."""
