"""The layers of :mod:`cogtensor.nn` (``torch.nn`` modules): one file per family."""

from cogtensor.nn.layers.activation import *  # noqa: F403
from cogtensor.nn.layers.attention import *  # noqa: F403
from cogtensor.nn.layers.conv import *  # noqa: F403
from cogtensor.nn.layers.dropout import *  # noqa: F403
from cogtensor.nn.layers.embedding import *  # noqa: F403
from cogtensor.nn.layers.linear import *  # noqa: F403
from cogtensor.nn.layers.normalization import *  # noqa: F403
from cogtensor.nn.layers.pooling import *  # noqa: F403
from cogtensor.nn.layers.shape import *  # noqa: F403
from cogtensor.nn.layers import (activation, attention, conv, dropout, embedding, linear,  # noqa: E402
                                 normalization, pooling, shape)

__all__ = [*activation.__all__, *attention.__all__, *conv.__all__, *dropout.__all__, *embedding.__all__,
           *linear.__all__, *normalization.__all__, *pooling.__all__, *shape.__all__]
