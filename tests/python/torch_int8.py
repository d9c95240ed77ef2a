#!/usr/bin/env python3
"""PyTorch's own int8 beside EdgeRnn's: models, inputs, PyTorch float32 outputs and PyTorch dynamic-int8 outputs.

usage: /usr/bin/python3 torch_int8.py OUTDIR REPO_ROOT
For every case writes OUTDIR/<case>.safetensors (the model file) and OUTDIR/<case>.data.safetensors with
x [T, In] raw inputs, y [T, Out] the float32 model's outputs and yq [T, Out] the outputs of
torch.quantization.quantize_dynamic (engine qnnpack, qint8 weights, dynamically quantized activations), both stepped
one time step per call from a zero state, as a streaming forecaster runs. OUTDIR/cases.txt lists the cases.
nn.RNN has no dynamic-quantized form in PyTorch, so tanh RNNs go through nn.RNNCell with the same weights (one cell
per layer), which quantize_dynamic does cover.
Default-initialised models see 400 steps of N(0, 1.5^2) inputs; trained ones are fitted briefly on the bundled data
(models/data: ETTh1, NAB machine temperature) and see the next 400 rows.
"""
import csv
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_forecaster import Forecaster, save_safetensors  # noqa: E402

torch.set_num_threads(1)
torch.backends.quantized.engine = "qnnpack"
STEPS = 400

# name, arch, inputs, hidden, layers, outputs, data ("" = default initialisation)
CASES = [
    ("lstm_1_128_1", "lstm", 1, 128, 1, 1, ""),
    ("lstm_4_128_1", "lstm", 4, 128, 1, 1, ""),
    ("lstm_1_64_1", "lstm", 1, 64, 1, 1, ""),
    ("lstm_8_128_24", "lstm", 8, 128, 1, 24, ""),
    ("lstm_1_256_1", "lstm", 1, 256, 1, 1, ""),
    ("lstm_3_16_2_l2", "lstm", 3, 16, 2, 2, ""),
    ("gru_1_128_1", "gru", 1, 128, 1, 1, ""),
    ("gru_8_16_3", "gru", 8, 16, 1, 3, ""),
    ("gru_5_256_24", "gru", 5, 256, 1, 24, ""),
    ("rnn_tanh_2_32_4", "rnn_tanh", 2, 32, 1, 4, ""),
    ("rnn_tanh_1_256_1", "rnn_tanh", 1, 256, 1, 1, ""),
    ("lstm_7_64_8_etth1", "lstm", 7, 64, 1, 8, "etth1"),
    ("gru_1_32_1_machine", "gru", 1, 32, 1, 1, "machine"),
    ("rnn_tanh_7_48_24_etth1", "rnn_tanh", 7, 48, 1, 24, "etth1"),
    ("lstm_1_32_12_machine", "lstm", 1, 32, 1, 12, "machine"),
]


def load_series(root, which):
    """[N, C] float32 columns of a bundled CSV (ETTh1: the 7 numeric columns; machine temperature: its value)."""
    if which == "etth1":
        path, cols = os.path.join(root, "models", "data", "ett", "ETTh1.csv"), slice(1, 8)
    else:
        path, cols = os.path.join(root, "models", "data", "nab", "machine_temperature_system_failure.csv"), slice(1, 2)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return torch.tensor([[float(v) for v in r[cols]] for r in rows], dtype=torch.float32)


def streamed(step, x):
    """Run a one-step-per-call function over x [T, In] from a zero state; returns [T, Out]."""
    state, ys = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            y, state = step(x[t:t + 1], state)
            ys.append(y)
    return torch.cat(ys)


class CellStack(nn.Module):
    """A tanh nn.RNN as nn.RNNCell per layer (same weights), the form quantize_dynamic can quantize."""

    def __init__(self, model):
        super().__init__()
        rnn = model.rnn
        self.cells = nn.ModuleList()
        for l in range(rnn.num_layers):
            c = nn.RNNCell(rnn.input_size if l == 0 else rnn.hidden_size, rnn.hidden_size, nonlinearity="tanh")
            c.weight_ih.data.copy_(getattr(rnn, f"weight_ih_l{l}"))
            c.weight_hh.data.copy_(getattr(rnn, f"weight_hh_l{l}"))
            c.bias_ih.data.copy_(getattr(rnn, f"bias_ih_l{l}"))
            c.bias_hh.data.copy_(getattr(rnn, f"bias_hh_l{l}"))
            self.cells.append(c)
        self.head = model.head

    def forward(self, x, state):
        hs = []
        for l, c in enumerate(self.cells):
            x = c(x, None if state is None else state[l])
            hs.append(x)
        return self.head(x), hs


def main(out, root):
    os.makedirs(out, exist_ok=True)
    names = []
    for i, (name, arch, inputs, hidden, layers, outputs, data) in enumerate(CASES):
        torch.manual_seed(700 + i)
        model = Forecaster(arch, inputs, hidden, layers, outputs)
        meta = {"arch": arch, "name": name}
        if data:
            series = load_series(root, data)[:, :inputs]
            train, test = series[:300], series[300:300 + STEPS]
            mean, std = train.mean(0), train.std(0)
            z = (train - mean) / std
            # targets: the next `outputs` steps of the last column
            target = torch.stack([z[k + 1:k + 1 + len(z) - outputs, -1] for k in range(outputs)], dim=1)
            opt = torch.optim.Adam(model.parameters(), lr=5e-3)
            for _ in range(20):
                opt.zero_grad()
                y, _ = model(z[None, :len(z) - outputs])
                loss = ((y[0] - target) ** 2).mean()
                loss.backward()
                opt.step()
            x = test[:STEPS]
            meta["input_mean"] = json.dumps(mean.tolist())
            meta["input_std"] = json.dumps(std.tolist())
            xn = (x - mean) / std
        else:
            g = torch.Generator().manual_seed(900 + i)
            x = 1.5 * torch.randn(STEPS, inputs, generator=g)
            xn = x
        model.eval()
        y = streamed(lambda v, s: (lambda o: (o[0][0], o[1]))(model(v[None], s)), xn)
        if arch == "rnn_tanh":
            cells = CellStack(model)
            q = torch.quantization.quantize_dynamic(cells, {nn.RNNCell, nn.Linear}, dtype=torch.qint8)
            yq = streamed(q, xn)
        else:
            q = torch.quantization.quantize_dynamic(model, {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8)
            yq = streamed(lambda v, s: (lambda o: (o[0][0], o[1]))(q(v[None], s)), xn)
        save_safetensors(os.path.join(out, name + ".safetensors"), model.state_dict(), meta)
        save_safetensors(os.path.join(out, name + ".data.safetensors"), {"x": x, "y": y, "yq": yq}, {})
        names.append(name)
    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("\n".join(names) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
