"""The segmentation network: a MONAI 2-D residual U-Net (needs the ``train`` extra; inference uses ONNX).

Why this network: the task is dense labelling of seven classes (background, metacarpal II-IV, their canals)
on a 0.5 mm grid of a whole hand. Telling II from III from IV needs context across the hand (which finger
is which), which four pooling levels give (receptive field well over 100 px = 50 mm). Residual units train
quickly on a CPU; batch normalisation folds into the convolutions on export. Channels stay small (16-256,
1.6 M parameters) so that a forward pass on a 512 x 400 grid takes about 0.1 s on two CPU cores; heavier
backbones (SegResNet, FlexibleUNet with a pretrained encoder, whose weights could not be downloaded here
anyway) would cost CPU time the 1-hour training budget does not have.
"""

from __future__ import annotations

import torch
from monai.networks.nets import UNet

from dxr.models.runtime import N_CLASSES

__all__ = ["CHANNELS", "build_network"]

CHANNELS = (16, 32, 64, 128, 256)


def build_network() -> torch.nn.Module:
    """A fresh, untrained network: input (B, 1, H, W) with H, W multiples of 16; output logits (B, 7, H, W)."""
    return UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=N_CLASSES,
        channels=CHANNELS,
        strides=(2, 2, 2, 2),
        num_res_units=2,
        norm="batch",
    )
