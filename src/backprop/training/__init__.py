"""Training: optimisers, learning-rate schedules, the training loop, its history and checkpoints."""
from .history import History
from .loop import run_epoch, train
from .metrics import Metric, get_metric
from .optimizers import GD, SGD, Adam, AdamW, Optimizer, RMSprop, get_optimizer
from .pairing import check_output_loss
from .schedules import Constant, Cosine, FromCallable, InverseScaling, Schedule, StepDecay, get_schedule

__all__ = [
    "train", "run_epoch", "History",
    "Optimizer", "GD", "SGD", "Adam", "AdamW", "RMSprop", "get_optimizer",
    "Schedule", "Constant", "StepDecay", "InverseScaling", "Cosine", "FromCallable", "get_schedule",
    "Metric", "get_metric", "check_output_loss",
]
