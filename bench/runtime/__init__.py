"""Artifacts and runtimes: a trained model as PyTorch eager, torch.compile or ONNX Runtime,
each giving a predictor, a timed call, parameters and bytes on disk the same way."""
