"""Optimizers and learning-rate schedulers (``torch.optim``): SGD, Adam, AdamW, RMSprop, Adagrad,
Adamax, NAdam, and :mod:`cogtensor.optim.lr_scheduler`."""

from cogtensor.optim import lr_scheduler
from cogtensor.optim.adagrad import Adagrad
from cogtensor.optim.adam import Adam, AdamW
from cogtensor.optim.adamax import Adamax
from cogtensor.optim.nadam import NAdam
from cogtensor.optim.optimizer import Optimizer
from cogtensor.optim.rmsprop import RMSprop
from cogtensor.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "lr_scheduler"]
