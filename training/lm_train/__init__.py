"""Training side of the lm project: LmSinglePoseV1(Quantize) in PyTorch, QONNX export, distillation."""
