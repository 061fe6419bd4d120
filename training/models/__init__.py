"""Model definitions: one config dataclass plus its modules per file."""
