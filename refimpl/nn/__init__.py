"""Layers mirroring torch.nn names and arguments, each with forward and hand-written backward."""
from .activation import (ACT2CLS, GELU, FastGELU, LogSoftmax, QuickGELU, ReLU, Sigmoid, SiLU, Softmax, Tanh,
                         get_activation)
from .attention import MultiHeadAttention
from .attention_heads import AttentionHeads
from .conv import Conv1d, Conv2d
from .conv1d_linear import Conv1D
from .dropout import Dropout, DropPath
from .embedding import Embedding
from .grn import GlobalResponseNorm
from .layer_stack import LayerStack
from .linear import Identity, Linear
from .normalization import BatchNorm2d, FrozenBatchNorm2d, GroupNorm, LayerNorm, RMSNorm
from .pooling import AdaptiveAvgPool1d, AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .resample import GridSample, Upsample
from .weight_norm import WEIGHT_NORM_LEGACY_KEYS, WeightNorm, WeightNormConv1d
