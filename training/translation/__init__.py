"""The translator's pieces around its task: batching, export and parity, beam-search decoding of the graphs."""
