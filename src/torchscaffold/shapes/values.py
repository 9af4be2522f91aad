"""The values a forward passes around, and what shape inference knows of each."""

from __future__ import annotations

from dataclasses import dataclass

from torchscaffold.catalog.rules import fmt_dims
from torchscaffold.catalog.types import BATCH, Dim, Dims
from torchscaffold.spec.expr import Name

NOMINAL_BATCH = 2  # the batch's number in checks; it never reaches generated constructors
BATCH_DIM = Dim(NOMINAL_BATCH, Name(BATCH))


@dataclass(frozen=True)
class Val:
    """A value: its dims (the batch included, where it has one) and its dtype."""

    dims: Dims
    dtype: str = "float32"  # float32 | int64 | bool
    tensor: bool = False  # a learned tensor or buffer of the class (self.name)

    @property
    def batched(self) -> bool:
        return bool(self.dims) and self.dims[0].is_batch

    @property
    def batch_like(self) -> bool:
        """Whether its first dim is a size known only at run time that stands where the batch
        stands, the batch itself nowhere else: windowed attention's batch times windows, a
        reshape's -1. Torch treats it as the batch, and so does the description."""
        return bool(self.dims) and self.dims[0].varying and not any(d.is_batch for d in self.dims)

    @property
    def leading(self) -> int:
        """How many dims come before the per-sample ones: 1 for the batch or a size in its
        place, 0 for a value of sizes fixed per instance (a mask per window, passed on)."""
        return 1 if self.batched or self.batch_like else 0

    @property
    def sample(self) -> tuple[int, ...]:
        """Per-sample shape: the numbers, the batch left out."""
        return tuple(d.value for d in self.dims if not d.is_batch)

    def __str__(self) -> str:
        return fmt_dims(self.dims)
