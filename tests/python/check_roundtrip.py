#!/usr/bin/env python3
"""Loads an EdgeRnn model file in PyTorch the way a user would and runs it.

usage: /usr/bin/python3 check_roundtrip.py MODEL.safetensors INPUT.safetensors OUTPUT.safetensors [MODEL INPUT OUTPUT ...]
(several triples in one run: importing torch is the slow part). INPUT holds "x" [T, In] raw; OUTPUT gets "y" [T, Out] raw, through the file's normalization metadata
and output_activation (softmax).
The model is rebuilt from the reference Forecaster with sizes read from the tensor shapes and loaded with
load_state_dict(strict=True), so a missing, extra or mis-shaped tensor fails here.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_forecaster import Forecaster, load_safetensors, save_safetensors  # noqa: E402


def vec(meta, key):
    return torch.tensor(json.loads(meta[key]), dtype=torch.float32) if key in meta else None


def check(model_path, input_path, output_path):
    tensors, meta = load_safetensors(model_path)
    arch = meta["arch"]
    gates = {"lstm": 4, "gru": 3}.get(arch, 1)
    hidden = tensors["rnn.weight_hh_l0"].shape[1]
    assert tensors["rnn.weight_hh_l0"].shape[0] == gates * hidden
    layers = sum(1 for k in tensors if k.startswith("rnn.weight_ih_l"))
    model = Forecaster(arch, tensors["rnn.weight_ih_l0"].shape[1], hidden, layers, tensors["head.weight"].shape[0])
    model.load_state_dict(tensors, strict=True)
    x = load_safetensors(input_path)[0]["x"]
    mean, std, omean, ostd = vec(meta, "input_mean"), vec(meta, "input_std"), vec(meta, "output_mean"), vec(meta, "output_std")
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
    if meta.get("output_activation", "none") == "softmax":
        y = torch.softmax(y, dim=-1)
    save_safetensors(output_path, {"y": y}, {"checked_keys": ",".join(sorted(meta))})


args = sys.argv[1:]
if not args or len(args) % 3 != 0:
    sys.exit("usage: check_roundtrip.py MODEL INPUT OUTPUT [MODEL INPUT OUTPUT ...]")
for i in range(0, len(args), 3):
    check(*args[i:i + 3])
print("ok")
