#!/usr/bin/env python3
"""Loads an EdgeRnn forecasting model in the reference PyTorch Forecaster (strict state_dict), runs the network part
over the given raw network inputs and checks the outputs against the C# FloatForecaster's.
usage: check_model.py model.safetensors io.json   (io.json: {"inputs": [[...], ...], "outputs": [[...], ...]})"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import torch  # noqa: E402
from reference_forecaster import Forecaster, load_safetensors  # noqa: E402

tensors, meta = load_safetensors(sys.argv[1])
# A v2 forecaster file: the scaler.* and skip.* tensors belong to the whole forecaster; the network is rnn.* and head.*.
tensors = {k: v for k, v in tensors.items() if k.startswith(("rnn.", "head."))}
io = json.load(open(sys.argv[2]))
layers = sum(1 for k in tensors if k.startswith("rnn.weight_ih_l"))
hidden = tensors["rnn.weight_hh_l0"].shape[1]
model = Forecaster(meta["arch"], tensors["rnn.weight_ih_l0"].shape[1], hidden, layers, tensors["head.weight"].shape[0])
model.load_state_dict(tensors, strict=True)
x = torch.tensor(io["inputs"], dtype=torch.float32)
if "input_mean" in meta:
    x = (x - torch.tensor(json.loads(meta["input_mean"]))) / torch.tensor(json.loads(meta["input_std"]))
with torch.no_grad():
    y, _ = model(x.unsqueeze(0))
y = y[0]
if "output_mean" in meta:
    y = y * torch.tensor(json.loads(meta["output_std"])) + torch.tensor(json.loads(meta["output_mean"]))
want = torch.tensor(io["outputs"], dtype=torch.float32)
err = (y - want).abs().max().item()
scale = max(want.abs().max().item(), 1e-6)
print(f"max abs error {err:.3g} (scale {scale:.3g})")
sys.exit(0 if err <= 1e-4 * max(scale, 1.0) else 1)
