"""The config schema of a scaffolded project's training: every section and key, with its type,
default and meaning.

One description, three renderings, so they cannot drift apart: the project's ``config.py``
(the dataclasses its loader validates against), ``configs/default.toml`` and the README's table
of keys. The defaults that ``torchgen new`` asks about (precision, strategy, loss) come from the
request. Pure data: nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass

PRECISIONS = ("fp32", "bf16", "fp16")
STRATEGIES = ("ddp", "fsdp")
LOSSES = ("cross_entropy", "mse", "bce_with_logits")
SCHEDULES = ("cosine", "constant")
MONITORS = ("eval_loss", "eval_accuracy")
PROGRESS = ("auto", "on", "off")
# The training loop a project owns (plain: train.py), or PyTorch Lightning's.
TRAINERS = ("plain", "lightning")


@dataclass(frozen=True)
class Key:
    """One config key: ``type`` is its Python annotation in the generated dataclass."""

    name: str
    type: str
    default: object
    doc: str
    # Checked by the project's loader, on the value or on each item of a list: value >= minimum,
    # value <= maximum, value < below; and a list's length.
    minimum: float | None = None
    maximum: float | None = None
    below: float | None = None
    length: int | None = None
    choices: tuple[str, ...] = ()  # rendered as a Literal type

    @property
    def bounds(self) -> dict[str, float]:
        """The field's ``metadata`` in the generated dataclass: the checks that apply."""
        named = {"min": self.minimum, "max": self.maximum, "below": self.below, "len": self.length}
        return {name: value for name, value in named.items() if value is not None}

    @property
    def annotation(self) -> str:
        if self.choices:
            return "Literal[" + ", ".join(f'"{c}"' for c in self.choices) + "]"
        return self.type

    def readme_type(self) -> str:
        if self.choices:
            return " \\| ".join(f"`{c}`" for c in self.choices)
        limits = [f"{self.length} values"] if self.length is not None else []
        for sign, value in ((">=", self.minimum), ("<=", self.maximum), ("<", self.below)):
            if value is not None:
                limits.append(f"{sign} {value}")
        text = f"`{self.type}`".replace("|", "\\|")
        return f"{text} ({', '.join(limits)})" if limits else text


@dataclass(frozen=True)
class Section:
    """A ``[table]`` of the config and the dataclass that holds it."""

    name: str
    cls: str
    doc: str
    keys: tuple[Key, ...]


def sections(*, precision: str, strategy: str, loss: str) -> tuple[Section, ...]:
    """The typed sections, with the defaults ``torchgen new`` was given."""
    return (
        Section(
            "train",
            "TrainConfig",
            "The loop: epochs, precision, checkpoints and the run directory.",
            (
                # A bound that no run reaches, so a typo's 10**20 is refused up front.
                Key(
                    "epochs",
                    "int",
                    2,
                    "Passes over the training data.",
                    minimum=1,
                    maximum=1_000_000,
                ),
                Key(
                    "seed",
                    "int",
                    0,
                    "Seeds Python, NumPy, torch and the data order.",
                    minimum=0,
                    maximum=2**32 - 1,  # what numpy and torch accept
                ),
                Key(
                    "run_dir",
                    "str",
                    "runs/default",
                    "Where metrics.csv, last.pt, best.pt (and TensorBoard logs) go.",
                ),
                Key(
                    "precision",
                    "str",
                    precision,
                    "fp32; bf16 autocast (CPU and CUDA); fp16 autocast with a gradient "
                    "scaler (CUDA only).",
                    choices=PRECISIONS,
                ),
                Key(
                    "strategy",
                    "str",
                    strategy,
                    "With several processes (torchrun): DistributedDataParallel, or FSDP2 "
                    "fully_shard with a distributed checkpoint.",
                    choices=STRATEGIES,
                ),
                Key("compile", "bool", False, "Run the model through torch.compile."),
                Key(
                    "deterministic",
                    "bool",
                    False,
                    "torch.use_deterministic_algorithms(True), no cuDNN autotuning.",
                ),
                Key(
                    "grad_clip",
                    "float",
                    1.0,
                    "Clip the gradients' global norm to this (max_norm); 0 turns it off.",
                    minimum=0,
                ),
                Key(
                    "accumulate",
                    "int",
                    1,
                    "Batches whose mean gradient makes one optimizer step (a group the epoch "
                    "ends early: the mean over its own batches).",
                    minimum=1,
                ),
                Key(
                    "monitor",
                    "str",
                    "eval_loss",
                    "The metric that picks best.pt and drives early stopping.",
                    choices=MONITORS,
                ),
                Key(
                    "patience",
                    "int",
                    0,
                    "Stop after this many epochs without a better monitor value; 0 never "
                    "stops early.",
                    minimum=0,
                ),
                Key(
                    "threads",
                    'int | Literal["auto"]',
                    "auto",
                    "torch's intra-op threads per process; auto: the CPUs this process may "
                    "use, less the load of other work, shared by the processes on this "
                    "machine, less the loader's workers (at least 1). Printed at start.",
                    minimum=1,
                ),
                Key(
                    "progress",
                    "str",
                    "auto",
                    "The tqdm progress bar: auto shows it on a terminal, on rank 0 only.",
                    choices=PROGRESS,
                ),
                Key(
                    "log_every",
                    "int",
                    10,
                    "Optimizer steps between progress-bar updates (each reads the loss).",
                    minimum=1,
                ),
            ),
        ),
        Section(
            "optimizer",
            "OptimizerConfig",
            "AdamW. Weight decay applies to weights of rank >= 2 only (not to biases and "
            "norm layers).",
            (
                Key("lr", "float", 0.001, "The peak learning rate.", minimum=0),
                Key("weight_decay", "float", 0.01, "Decoupled weight decay.", minimum=0),
                Key(
                    "betas",
                    "list[float]",
                    [0.9, 0.999],
                    "AdamW's beta1 and beta2.",
                    minimum=0,
                    below=1,
                    length=2,
                ),
            ),
        ),
        Section(
            "schedule",
            "ScheduleConfig",
            "The learning rate per optimizer step.",
            (
                Key(
                    "name",
                    "str",
                    "cosine",
                    "cosine: linear warmup, then cosine decay to min_lr; constant: warmup, "
                    "then lr.",
                    choices=SCHEDULES,
                ),
                Key("warmup_steps", "int", 0, "Steps of linear warmup from 0.", minimum=0),
                Key("min_lr", "float", 0.0, "The learning rate at the end of cosine.", minimum=0),
                Key(
                    "total_steps",
                    "int",
                    0,
                    "Steps the cosine spans; 0: epochs x steps per epoch (set it for data "
                    "without a length, an IterableDataset).",
                    minimum=0,
                ),
            ),
        ),
        Section(
            "loss",
            "LossConfig",
            "A LOSSES entry (losses.py).",
            (
                Key(
                    "name",
                    "str",
                    loss,
                    "cross_entropy, mse, bce_with_logits or another name registered in "
                    "LOSSES; class labels are one-hot encoded for mse and bce_with_logits.",
                ),
                Key(
                    "label_smoothing",
                    "float",
                    0.0,
                    "cross_entropy only: the weight moved from the label to the others.",
                    minimum=0,
                    maximum=1,
                ),
            ),
        ),
        Section(
            "data",
            "DataConfig",
            "DataLoader settings (per process) and how a batch reaches the model.",
            (
                Key("batch_size", "int", 32, "Samples per batch, per process.", minimum=1),
                Key(
                    "num_workers",
                    "int",
                    2,
                    "Loading processes per training process (0: load in the main one).",
                    minimum=0,
                ),
                Key(
                    "input_shape",
                    "list[int]",
                    [],
                    "Reshape each sample's input to this (flat CSV or JSON features to the "
                    "model's input shape); empty: as the dataset gives it.",
                ),
                Key(
                    "inputs",
                    "list[str]",
                    [],
                    "Dict batches: the fields passed to the model, in order; empty: every "
                    "field but target.",
                ),
                Key(
                    "target",
                    "str",
                    "label",
                    "Dict batches: the field holding the target (a tuple batch's target "
                    "is its last item).",
                ),
            ),
        ),
    )


# The tables that are not typed sections: registry configs, ``type`` plus keyword arguments.
FREE_TABLES = (
    ("model", "A MODELS config: `type` is a registered name, the other keys its arguments."),
    ("data.train", "A DATASETS config for the training split, built like [model]."),
    ("data.eval", "A DATASETS config for the evaluation split."),
)
