"""The paper's three-layer "vanilla" CNN (Table 2), as in cleverhans' ModelBasicCNN."""

import math
from collections import OrderedDict

from torch import nn

from advconf.errors import AdvconfError
from advconf.models.layers import SamePad2d


class VanillaCNN(nn.Sequential):
    """Conv1 8x8/nf/stride 2 SAME -> Conv2 6x6/2nf VALID -> Conv3 5x5/2nf VALID, ReLU after each,
    then a linear (softmax) readout.

    `batch_norm=True` inserts batch norm between Conv2/Conv3 and their ReLU. Those are the layers
    DoReFa quantises (the first and last layers stay full precision), and the paper uses batch norm
    "only with low-precision layers to ensure quantization is centered around zero". Conv1's SAME
    padding follows TensorFlow (odd pad pixel bottom/right; 28 and 32 px inputs pad 3 on each side).
    """

    def __init__(
        self,
        input_shape: list[int] = [1, 28, 28],
        num_classes: int = 10,
        nf: int = 64,
        batch_norm: bool = False,
    ) -> None:
        channels, height, width = input_shape
        # Spatial size after Conv1 (SAME, stride 2), Conv2 (6x6 VALID) and Conv3 (5x5 VALID).
        out_h, out_w = (math.ceil(s / 2) - 5 - 4 for s in (height, width))
        if out_h < 1 or out_w < 1:
            raise AdvconfError(f"VanillaCNN needs images of at least 19x19 pixels, got input_shape {input_shape}")
        layers: list[tuple[str, nn.Module]] = [
            ("pad1", SamePad2d(8, 2)),
            ("conv1", nn.Conv2d(channels, nf, 8, stride=2)),
            ("relu1", nn.ReLU()),
        ]
        for i, (c_in, k) in enumerate([(nf, 6), (2 * nf, 5)], start=2):
            layers.append((f"conv{i}", nn.Conv2d(c_in, 2 * nf, k, bias=not batch_norm)))
            if batch_norm:
                layers.append((f"bn{i}", nn.BatchNorm2d(2 * nf)))
            layers.append((f"relu{i}", nn.ReLU()))
        layers += [("flatten", nn.Flatten()), ("fc", nn.Linear(2 * nf * out_h * out_w, num_classes))]
        super().__init__(OrderedDict(layers))
        self.input_shape = tuple(input_shape)
