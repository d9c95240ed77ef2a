#!/usr/bin/env python3
"""PyTorch-made models for the int8 tests: briefly trained on a multi-sine signal so gates leave their linear range.

usage: /usr/bin/python3 quant_models.py OUTDIR
Writes OUTDIR/<case>.safetensors (the model file) and OUTDIR/<case>.data.safetensors (x [T, In] raw inputs,
y [T, Out] PyTorch's float32 outputs, state from zero).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_forecaster import Forecaster, save_safetensors  # noqa: E402

torch.set_num_threads(1)

CASES = [
    ("lstm_l1_h32", "lstm", 1, 32), ("lstm_l2_h64", "lstm", 2, 64), ("lstm_l1_h128", "lstm", 1, 128),
    ("lstm_l1_h256", "lstm", 1, 256), ("gru_l1_h64", "gru", 1, 64), ("gru_l2_h128", "gru", 2, 128),
    ("gru_l1_h256", "gru", 1, 256), ("rnn_tanh_l1_h64", "rnn_tanh", 1, 64), ("rnn_relu_l1_h64", "rnn_relu", 1, 64),
]
IN, OUT = 8, 4


def signal(steps, seed):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(steps + OUT, dtype=torch.float32)[:, None]
    freqs = torch.tensor([0.03, 0.07, 0.11, 0.19, 0.05, 0.23, 0.013, 0.31])
    s = torch.sin(t * freqs + torch.arange(IN) * 0.7) + 0.2 * torch.randn(steps + OUT, IN, generator=g)
    x = 5.0 + 2.0 * s[:steps]
    target = torch.stack([s[k + 1:k + 1 + steps, k] for k in range(OUT)], dim=1)
    return x, target


def main(out):
    os.makedirs(out, exist_ok=True)
    for i, (name, arch, layers, hidden) in enumerate(CASES):
        torch.manual_seed(500 + i)
        model = Forecaster(arch, IN, hidden, layers, OUT)
        mean, std = torch.full((IN,), 5.0), torch.full((IN,), 2.0)
        x, target = signal(256, i)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(30):
            opt.zero_grad()
            y, _ = model(((x - mean) / std)[None])
            loss = ((y[0] - target) ** 2).mean()
            loss.backward()
            opt.step()
        meta = {"arch": arch, "name": name, "input_mean": json.dumps(mean.tolist()), "input_std": json.dumps(std.tolist())}
        save_safetensors(os.path.join(out, name + ".safetensors"), model.state_dict(), meta)
        xe, _ = signal(200, 1000 + i)
        with torch.no_grad():
            ye, _ = model(((xe - mean) / std)[None])
        save_safetensors(os.path.join(out, name + ".data.safetensors"), {"x": xe, "y": ye[0]}, {})


if __name__ == "__main__":
    main(sys.argv[1])
