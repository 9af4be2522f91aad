"""torchgen: code generation for PyTorch. The import package is ``torchscaffold`` because torch
wheels already ship a top-level ``torchgen`` package that we must not shadow."""

__version__ = "0.1.0"
