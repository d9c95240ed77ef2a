#!/usr/bin/env python3
"""Golden fixtures from PyTorch for the engine tests, all in one process (importing torch costs seconds).

usage: /usr/bin/python3 make_fixtures.py OUTDIR [predict] [grad] [ce] [train]

Every model is the reference Forecaster (reference_forecaster.py, beside this file) saved with its safetensors writer.
Numeric arrays go out as safetensors too (the C# tests read them with the project's own reader).

  predict/<case>.safetensors, .in.csv, .expected.csv   raw inputs -> raw outputs through the file's normalization
  grad/<case>.safetensors        initial model;  grad/<case>.data.safetensors  x [B, 2T, In], target [B, 2T, O], loss [2]
  grad/<case>.grad1.safetensors  parameter gradients of window 1 (MSE, state from zero)
  grad/<case>.grad2.safetensors  of window 2, state carried from window 1 and detached
  train/<case>.safetensors, .data.safetensors (x, target, losses [20], norms [20]), .final.safetensors
  predict/char_<case>.*          softmax character models (output_activation, vocab): one-hot inputs -> probabilities
  ce/<case>.*                    as grad/, with cross-entropy (nn.CrossEntropyLoss) on class targets [B, 2T] stored as
                                 floats, one-hot inputs (input i = class i) and two truncated-BPTT windows
"""
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_forecaster import Forecaster, apply_output, save_safetensors  # noqa: E402

torch.set_num_threads(1)


def f32(x):
    return repr(float(x))


def normalized_forward(model, x_raw, norm):
    x = x_raw
    if norm:
        x = (x - norm["input_mean"]) / norm["input_std"]
    y, state = model(x)
    if norm:
        y = y * norm["output_std"] + norm["output_mean"]
    return y


def predict_cases(out):
    os.makedirs(out, exist_ok=True)
    cases = [
        ("lstm_l1", "lstm", 1, False), ("lstm_l2_norm", "lstm", 2, True), ("lstm_l2", "lstm", 2, False),
        ("gru_l1_norm", "gru", 1, True), ("gru_l2", "gru", 2, False),
        ("rnn_tanh_l1", "rnn_tanh", 1, False), ("rnn_tanh_l2_norm", "rnn_tanh", 2, True),
        ("rnn_relu_l1", "rnn_relu", 1, False), ("rnn_relu_l2_norm", "rnn_relu", 2, True),
        ("lstm_l2_h64_norm", "lstm", 2, True), ("gru_l1_h64", "gru", 1, False),
    ]
    for i, (name, arch, layers, use_norm) in enumerate(cases):
        torch.manual_seed(100 + i)
        in_size, hidden, out_size, steps = 3, 64 if "h64" in name else 20, 2, 300
        model = Forecaster(arch, in_size, hidden, layers, out_size)
        meta = {"arch": arch, "name": name, "note": "made by make_fixtures.py"}
        norm = None
        if use_norm:
            norm = {
                "input_mean": torch.tensor([10.0, -3.0, 0.5]), "input_std": torch.tensor([2.0, 0.5, 4.0]),
                "output_mean": torch.tensor([20.0, -1.0]), "output_std": torch.tensor([3.0, 0.25]),
            }
            for k, v in norm.items():
                meta[k] = json.dumps([float(a) for a in v])
        mean = norm["input_mean"] if norm else torch.zeros(in_size)
        std = norm["input_std"] if norm else torch.ones(in_size)
        t = torch.arange(steps, dtype=torch.float32)[:, None]
        x = mean + std * (torch.sin(t * torch.tensor([0.05, 0.13, 0.31])) + 0.5 * torch.randn(steps, in_size))
        with torch.no_grad():
            y = normalized_forward(model, x[None], norm)[0]
        save_safetensors(os.path.join(out, name + ".safetensors"), model.state_dict(), meta)
        with open(os.path.join(out, name + ".in.csv"), "w") as f:
            f.write("a,b,c\n")
            for row in x:
                f.write(",".join(f32(v) for v in row) + "\n")
        with open(os.path.join(out, name + ".expected.csv"), "w") as f:
            f.write("y0,y1\n")
            for row in y:
                f.write(",".join(f32(v) for v in row) + "\n")


def char_predict_cases(out):
    """Softmax models over a small vocab; the expected CSV is what the file's user sees (apply_output)."""
    os.makedirs(out, exist_ok=True)
    vocab = ["a", "b", " ", "\n", ",", "\u00e9", "\"", "Z"]
    v = len(vocab)
    for i, (name, arch, layers) in enumerate([("char_lstm_l2", "lstm", 2), ("char_gru_l1", "gru", 1), ("char_rnn_tanh_l2", "rnn_tanh", 2)]):
        torch.manual_seed(400 + i)
        model = Forecaster(arch, v, 24, layers, v)
        with torch.no_grad():
            model.head.weight.mul_(30.0)  # confident outputs, so tiny probabilities are exercised too
        meta = {"arch": arch, "output_activation": "softmax", "vocab": json.dumps(vocab)}
        ids = torch.randint(0, v, (200,))
        x = nn.functional.one_hot(ids, v).float()
        with torch.no_grad():
            y, _ = model(x[None])
            p = apply_output(y, meta)[0]
        save_safetensors(os.path.join(out, name + ".safetensors"), model.state_dict(), meta)
        with open(os.path.join(out, name + ".in.csv"), "w") as f:
            f.write(",".join(f"x{j}" for j in range(v)) + "\n")
            for row in x:
                f.write(",".join(f32(a) for a in row) + "\n")
        with open(os.path.join(out, name + ".expected.csv"), "w") as f:
            f.write(",".join(f"y{j}" for j in range(v)) + "\n")
            for row in p:
                f.write(",".join(f32(a) for a in row) + "\n")


def ce_cases(out):
    os.makedirs(out, exist_ok=True)
    i = 0
    for arch in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
        for layers in (1, 2):
            i += 1
            name = f"{arch}_l{layers}"
            torch.manual_seed(500 + i)
            classes, hidden, batch, steps = 6, 10, 4, 7
            model = Forecaster(arch, classes, hidden, layers, classes)
            save_safetensors(os.path.join(out, name + ".safetensors"), model.state_dict(),
                             {"arch": arch, "output_activation": "softmax"})
            ids = torch.randint(0, classes, (batch, 2 * steps + 1))
            x = nn.functional.one_hot(ids[:, :-1], classes).float()
            target = ids[:, 1:]
            losses = []
            state = None
            for w in range(2):
                model.zero_grad()
                y, state = model(x[:, w * steps:(w + 1) * steps], state)
                loss = nn.functional.cross_entropy(y.reshape(-1, classes), target[:, w * steps:(w + 1) * steps].reshape(-1))
                loss.backward()
                losses.append(loss.item())
                state = detach(state)
                grads = {k: p.grad for k, p in model.named_parameters()}
                save_safetensors(os.path.join(out, f"{name}.grad{w + 1}.safetensors"), grads, {"arch": arch})
            save_safetensors(os.path.join(out, name + ".data.safetensors"),
                             {"x": x, "target": target.float(), "loss": torch.tensor(losses, dtype=torch.float64).float()}, {})


def detach(state):
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def grad_cases(out):
    os.makedirs(out, exist_ok=True)
    i = 0
    for arch in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
        for layers in (1, 2):
            i += 1
            name = f"{arch}_l{layers}"
            torch.manual_seed(200 + i)
            in_size, hidden, out_size, batch, steps = 3, 10, 2, 4, 7
            model = Forecaster(arch, in_size, hidden, layers, out_size)
            save_safetensors(os.path.join(out, name + ".safetensors"), model.state_dict(), {"arch": arch})
            x = torch.randn(batch, 2 * steps, in_size)
            target = torch.randn(batch, 2 * steps, out_size)
            losses = []
            state = None
            for w in range(2):
                model.zero_grad()
                y, state = model(x[:, w * steps:(w + 1) * steps], state)
                loss = nn.functional.mse_loss(y, target[:, w * steps:(w + 1) * steps])
                loss.backward()
                losses.append(loss.item())
                state = detach(state)
                grads = {k: p.grad for k, p in model.named_parameters()}
                save_safetensors(os.path.join(out, f"{name}.grad{w + 1}.safetensors"), grads, {"arch": arch})
            save_safetensors(os.path.join(out, name + ".data.safetensors"),
                             {"x": x, "target": target, "loss": torch.tensor(losses)}, {})


def train_cases(out):
    os.makedirs(out, exist_ok=True)
    cases = [
        # name, arch, layers, optimizer, loss, clip
        ("lstm_l2_adam", "lstm", 2, "adam", "mse", 0.2),
        ("gru_l1_adam", "gru", 1, "adam_lr", "mse", None),
        ("rnn_tanh_l2_sgd", "rnn_tanh", 2, "sgd", "huber", 1.0),
        ("rnn_relu_l1_adam", "rnn_relu", 1, "adam_lr", "huber", 0.5),
    ]
    for i, (name, arch, layers, opt_name, loss_name, clip) in enumerate(cases):
        torch.manual_seed(300 + i)
        in_size, hidden, out_size, batch, steps = 3, 16, 2, 8, 20
        model = Forecaster(arch, in_size, hidden, layers, out_size)
        save_safetensors(os.path.join(out, name + ".safetensors"), model.state_dict(), {"arch": arch})
        x = torch.randn(batch, steps, in_size)
        target = torch.randn(batch, steps, out_size) * 1.5
        if opt_name == "adam":
            opt = torch.optim.Adam(model.parameters())
        elif opt_name == "adam_lr":
            opt = torch.optim.Adam(model.parameters(), lr=0.01)
        else:
            opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loss_fn = nn.functional.mse_loss if loss_name == "mse" else nn.functional.huber_loss
        losses, norms = [], []
        for _ in range(20):
            opt.zero_grad()
            y, _ = model(x)
            loss = loss_fn(y, target)
            loss.backward()
            norms.append(float(nn.utils.clip_grad_norm_(model.parameters(), clip)) if clip else 0.0)
            opt.step()
            losses.append(loss.item())
        save_safetensors(os.path.join(out, name + ".data.safetensors"),
                         {"x": x, "target": target, "losses": torch.tensor(losses), "norms": torch.tensor(norms)}, {})
        save_safetensors(os.path.join(out, name + ".final.safetensors"), model.state_dict(), {"arch": arch})


if __name__ == "__main__":
    root = sys.argv[1]
    which = sys.argv[2:] or ["predict", "grad", "ce", "train"]
    if "predict" in which:
        predict_cases(os.path.join(root, "predict"))
        char_predict_cases(os.path.join(root, "predict"))
    if "grad" in which:
        grad_cases(os.path.join(root, "grad"))
    if "ce" in which:
        ce_cases(os.path.join(root, "ce"))
    if "train" in which:
        train_cases(os.path.join(root, "train"))
    print("ok")
