#!/usr/bin/env python3
"""Loads an EdgeRnn model file in PyTorch the way a user would and runs it.

usage: /usr/bin/python3 check_roundtrip.py MODEL.safetensors INPUT.safetensors OUTPUT.safetensors
INPUT holds "x" [T, In] raw; OUTPUT gets "y" [T, Out] raw, through the file's normalization metadata.
The model is rebuilt from the reference Forecaster with sizes read from the tensor shapes and loaded with
load_state_dict(strict=True), so a missing, extra or mis-shaped tensor fails here.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_forecaster import Forecaster, load_safetensors, save_safetensors  # noqa: E402

tensors, meta = load_safetensors(sys.argv[1])
arch = meta["arch"]
gates = {"lstm": 4, "gru": 3}.get(arch, 1)
hidden = tensors["rnn.weight_hh_l0"].shape[1]
assert tensors["rnn.weight_hh_l0"].shape[0] == gates * hidden
layers = sum(1 for k in tensors if k.startswith("rnn.weight_ih_l"))
model = Forecaster(arch, tensors["rnn.weight_ih_l0"].shape[1], hidden, layers, tensors["head.weight"].shape[0])
model.load_state_dict(tensors, strict=True)
x = load_safetensors(sys.argv[2])[0]["x"]


def vec(key):
    return torch.tensor(json.loads(meta[key]), dtype=torch.float32) if key in meta else None


mean, std, omean, ostd = vec("input_mean"), vec("input_std"), vec("output_mean"), vec("output_std")
if mean is not None:
    x = x - mean
if std is not None:
    x = x / std
with torch.no_grad():
    y, _ = model(x[None])
y = y[0]
if ostd is not None:
    y = y * ostd
if omean is not None:
    y = y + omean
save_safetensors(sys.argv[3], {"y": y}, {"checked_keys": ",".join(sorted(meta))})
print("ok")
