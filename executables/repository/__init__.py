"""The Triton model repository that export writes and inference serves: its contract and TensorRT plans."""
