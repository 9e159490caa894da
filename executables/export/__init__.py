"""Export node: the trained network as a Triton model repository."""
