"""Models that travel: PyTorch, scikit-learn and ONNX, in and out (each library imported only when used)."""
