#!/usr/bin/env python3
"""The whole EdgeRnn forecaster in PyTorch: the reference for what `edgernn forecast` and `edgernn run` compute.

    forecast[t, c, k] = mean_c + std_c * skip(z_c[t-L+1..t])[k] + std_c * head(rnn(features[..t]))[k*C + c]

scaling (scaler.mean, scaler.std), the input transform ("level": z-scored value, "diff": first difference over
scaler.diff_std; clamped to +-8), the gap policy (carry the last value forward; before any, the channel mean), the NLinear
skip path (skip.weight [H, L], skip.bias [H], shared across targets), the recurrent network and head (PyTorch's
nn.LSTM / nn.GRU / nn.RNN state_dict names) and the de-scaling, with load/save of model files (docs/model-format.md:
v2 read and written; v1 and network-only reference files read).

usage (Debian's python3-torch):
  python3 tools/pytorch/edgernn_model.py forecast MODEL IN.csv OUT.csv [--targets A,B] [--features A,B,C] [--time COL]
      writes what `edgernn forecast --model MODEL --input IN.csv --output OUT.csv` writes (float32)
  python3 tools/pytorch/edgernn_model.py train --data D.csv --targets A[,B] [--features ...] --horizon H --out M.safetensors
      [--arch lstm|gru] [--hidden 16] [--layers 1] [--skip nlinear|none] [--transform diff|level] [--lookback 96]
      [--steps 200] [--rows N] [--seed 0] [--period SECONDS]
      a short training example: fits the scaler and the skip path on the first 70 % of rows, trains the network on the
      skip path's residual, and saves a v2 file that `edgernn run` serves unchanged.
"""
import argparse
import csv
import json
import math
import struct
import sys
from datetime import datetime

import numpy as np
import torch
from torch import nn

FORMAT = "edgernn-forecaster/2"
CLAMP = 8.0


class Scaler(nn.Module):
    def __init__(self, channels, diff):
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))
        if diff:
            self.register_buffer("diff_std", torch.ones(channels))


class Skip(nn.Module):
    """NLinear (relative=True) or Linear over the last L normalized values of each target: [H, L] shared by the targets."""

    def __init__(self, horizon, lookback, relative):
        super().__init__()
        self.relative = relative
        self.weight = nn.Parameter(torch.zeros(horizon, lookback), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(horizon), requires_grad=False)

    def forward(self, windows):  # windows [N, L] oldest first -> [N, H]
        s = windows @ self.weight.T
        last = windows[:, -1:] if self.relative else torch.zeros_like(windows[:, -1:])
        if self.relative:
            s = s - last * self.weight.sum(1)
        return s + self.bias + last


class EdgeRnnForecaster(nn.Module):
    def __init__(self, arch, features, targets, horizon, hidden, layers=1, input_transform="diff", skip="nlinear",
                 lookback=96, period_seconds=None, name="edgernn", version="1", network_only=None):
        super().__init__()
        c = len(features)
        self.arch, self.features, self.targets, self.horizon = arch, list(features), list(targets), horizon
        self.input_transform, self.skip_kind, self.period_seconds = input_transform, skip, period_seconds
        self.free = {"name": name, "version": str(version)}
        # A network-only reference file: its network scales inside (input_mean/std, output_mean/std); no scaler, no skip.
        self.network_only = network_only
        if network_only is None:
            if list(targets) != list(features[:len(targets)]):
                raise ValueError("targets must be the first features")
            self.scaler = Scaler(c, input_transform == "diff")
            if skip in ("nlinear", "linear"):
                self.skip = Skip(horizon, lookback, skip == "nlinear")
        out = horizon * len(targets)
        if arch == "lstm":
            self.rnn = nn.LSTM(c, hidden, layers, batch_first=True)
        elif arch == "gru":
            self.rnn = nn.GRU(c, hidden, layers, batch_first=True)
        elif arch in ("rnn_tanh", "rnn_relu"):
            self.rnn = nn.RNN(c, hidden, layers, batch_first=True, nonlinearity=arch[4:])
        else:
            raise ValueError(f"unknown arch {arch}")
        self.head = nn.Linear(hidden, out)

    @property
    def lookback(self):
        return self.skip.weight.shape[1] if hasattr(self, "skip") else 1

    def fill(self, x):
        """x [T, C] raw float32 with NaN for gaps -> [T, C] with each gap carrying the last value (first: the mean)."""
        v = x.clone()
        last = self.scaler.mean.clone() if self.network_only is None else torch.zeros(x.shape[1])
        for t in range(v.shape[0]):
            row = v[t]
            bad = ~torch.isfinite(row)
            row[bad] = last[bad]
            last = row
        return v

    def network_features(self, filled):
        if self.network_only is not None:
            return filled
        if self.input_transform == "diff":
            d = torch.zeros_like(filled)
            d[1:] = filled[1:] - filled[:-1]
            z = d / self.scaler.diff_std
        else:
            z = (filled - self.scaler.mean) / self.scaler.std
        return z.clamp(-CLAMP, CLAMP)

    def normalized_targets(self, filled):
        nt = len(self.targets)
        return (filled[:, :nt] - self.scaler.mean[:nt]) / self.scaler.std[:nt]

    def skip_forecast(self, filled):
        """[T, C, H] normalized skip forecast made at each row (zeros without a skip path)."""
        t_, nt = filled.shape[0], len(self.targets)
        if not hasattr(self, "skip"):
            return torch.zeros(t_, nt, self.horizon)
        z = self.normalized_targets(filled)  # [T, C]
        lb = self.lookback
        padded = torch.cat([z[:1].expand(lb - 1, nt), z], 0)  # before the lookback is full: the oldest value seen
        windows = padded.unfold(0, lb, 1)  # [T, C, L]
        return self.skip(windows.reshape(-1, lb)).reshape(t_, nt, self.horizon)

    def network(self, features):
        """[T, I] -> [T, H*C] head outputs (normalized correction; a network-only file: its outputs in its own units)."""
        x = features
        no = self.network_only
        if no is not None and no.get("input_mean") is not None:
            x = (x - no["input_mean"]) / no["input_std"]
        y, _ = self.rnn(x.unsqueeze(0))
        y = self.head(y[0])
        if no is not None and no.get("output_mean") is not None:
            y = y * no["output_std"] + no["output_mean"]
        return y

    def forward(self, x):
        """x [T, C] raw (NaN = missing) -> forecasts [T, C_targets, H] in sensor units (rows before the lookback included)."""
        filled = self.fill(x)
        y = self.network(self.network_features(filled))
        nt = len(self.targets)
        y = y.reshape(-1, self.horizon, nt).transpose(1, 2)  # step-major [H, C] -> [C, H]
        if self.network_only is not None:
            return y
        m = self.scaler.mean[:nt].unsqueeze(1)
        s = self.scaler.std[:nt].unsqueeze(1)
        return (m + s * self.skip_forecast(filled)) + y * s


# ---------------------------------------------------------------- files

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, h in header.items():
        if h["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {h['dtype']}, expected F32")
        a, b = h["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(h["shape"]).clone()
    return tensors, meta


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    raw = json.dumps(header).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def _net_shape(tensors):
    layers = sum(1 for k in tensors if k.startswith("rnn.weight_ih_l"))
    return tensors["rnn.weight_hh_l0"].shape[1], layers


def load(path, targets=None, features=None):
    """A model file as an EdgeRnnForecaster: v2, v1, or a network-only reference file (targets/features name its outputs/inputs)."""
    tensors, meta = read_safetensors(path)
    arch = meta["arch"]
    hidden, layers = _net_shape(tensors)
    n_in = tensors["rnn.weight_ih_l0"].shape[1]
    n_out = tensors["head.weight"].shape[0]
    free = {k: v for k, v in meta.items() if k not in (
        "format", "arch", "features", "targets", "horizon", "period_seconds", "input_transform", "skip",
        "input_mean", "input_std", "output_mean", "output_std", "output_layout") and not k.startswith("edgernn.") or k == "edgernn.skip.shrink"}
    net = {k: v for k, v in tensors.items() if k.startswith(("rnn.", "head."))}
    period = float(meta["period_seconds"]) if "period_seconds" in meta else None
    if meta.get("format") == FORMAT or "edgernn.skip.kind" in meta:
        v2 = meta.get("format") == FORMAT
        feats, targs = json.loads(meta["features"]), json.loads(meta["targets"])
        horizon = int(meta["horizon"])
        transform = meta["input_transform" if v2 else "edgernn.input_transform"]
        skip = meta["skip" if v2 else "edgernn.skip.kind"]
        if v2:
            lookback = tensors["skip.weight"].shape[1] if skip != "none" else 1
        else:
            lookback = int(meta.get("edgernn.skip.lookback", "1"))
        m = EdgeRnnForecaster(arch, feats, targs, horizon, hidden, layers, transform, skip, lookback, period)
        if v2:
            state = dict(tensors)
        else:
            vec = lambda k: torch.tensor(json.loads(meta[k]), dtype=torch.float32)  # noqa: E731
            state = dict(net)
            state["scaler.mean"], state["scaler.std"] = vec("edgernn.channel_mean"), vec("edgernn.channel_std")
            if transform == "diff":
                state["scaler.diff_std"] = vec("edgernn.diff_std")
            if skip != "none":
                state["skip.weight"] = vec("edgernn.skip.weight").reshape(horizon, lookback)
                state["skip.bias"] = vec("edgernn.skip.bias")
        m.load_state_dict(state, strict=True)
    else:
        targs = targets or (json.loads(meta["targets"]) if "targets" in meta else None)
        if targs is None:
            raise ValueError(f"{path}: a network-only file: name its targets (--targets)")
        feats = features or (json.loads(meta["features"]) if "features" in meta else None) or targs
        vec = lambda k: torch.tensor(json.loads(meta[k]), dtype=torch.float32) if k in meta else None  # noqa: E731
        norm = {k: vec(k) for k in ("input_mean", "input_std", "output_mean", "output_std")}
        m = EdgeRnnForecaster(arch, feats, targs, n_out // len(targs), hidden, layers, "level", "none", 1, period, network_only=norm)
        m.load_state_dict(net, strict=True)
        if len(feats) != n_in:
            raise ValueError(f"{path}: {len(feats)} features named, the network takes {n_in}")
    m.free.update(free)
    return m


def save(model, path):
    """Writes a v2 file: every number a tensor, metadata descriptions only."""
    if model.network_only is not None:
        raise ValueError("a network-only model is saved in the reference format, not as v2")
    meta = dict(model.free)
    meta.update({"format": FORMAT, "arch": model.arch, "features": json.dumps(model.features),
                 "targets": json.dumps(model.targets), "horizon": str(model.horizon),
                 "input_transform": model.input_transform, "skip": model.skip_kind if hasattr(model, "skip") else "none"})
    if model.period_seconds is not None:
        meta["period_seconds"] = repr(float(model.period_seconds)).rstrip("0").rstrip(".")
    write_safetensors(path, dict(model.state_dict()), meta)


# ---------------------------------------------------------------- CSV (the rules of EdgeRnn's SeriesTable)

def _iso_time(s):
    if len(s) < 10 or s[4] != "-":
        return False
    try:
        datetime.fromisoformat(s.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def _epoch(s):
    try:
        v = float(s)
    except ValueError:
        return False
    return math.isfinite(v) and v >= 0


def read_table(path, time_column=None):
    """(time column name or None, time cells or None, {name: float32 array with NaN gaps})."""
    with open(path, newline="") as f:
        rows = [[c.strip() for c in r] for r in csv.reader(f) if r]
    names, rows = rows[0], rows[1:]
    if not rows:
        raise ValueError(f"{path}: no data rows")
    ti = -1
    if time_column is not None:
        ti = names.index(time_column)
    else:
        for c in range(len(names)):
            if _iso_time(rows[0][c]):
                ti = c
                break
        if ti < 0:
            for c, n in enumerate(names):
                low = n.lower()
                if ("time" in low or "date" in low or low in ("ts", "t") or "epoch" in low) and _epoch(rows[0][c]):
                    ti = c
                    break
    cols = {}
    for c, n in enumerate(names):
        if c == ti:
            continue
        vals = []
        for r in rows:
            try:
                v = float(r[c])
                vals.append(v if math.isfinite(v) else math.nan)
            except ValueError:
                vals.append(math.nan)
        a = np.array(vals, dtype=np.float32)
        if np.isfinite(a).any():
            cols[n] = a
    return (names[ti] if ti >= 0 else None), ([r[ti] for r in rows] if ti >= 0 else None), cols


def format_float(v):
    """A float32 as .NET's float.ToString("R") writes it (shortest round trip; E notation below 1e-5 and from 1e15)."""
    v = np.float32(v)
    if v == 0:
        return "-0" if math.copysign(1, float(v)) < 0 else "0"
    sci = np.format_float_scientific(v, unique=True, trim="-")
    mant, exp = sci.split("e")
    e = int(exp)
    if -5 <= e < 15:
        return np.format_float_positional(v, unique=True, trim="-")
    return f"{mant}E{'-' if e < 0 else '+'}{abs(e):02d}"


def forecast_csv(model, in_path, out_path, time_column=None):
    tname, times, cols = read_table(in_path, time_column)
    for f in model.features:
        if f not in cols:
            raise ValueError(f"{in_path}: the model needs a numeric column '{f}'")
    x = torch.from_numpy(np.stack([cols[f] for f in model.features], 1))
    with torch.no_grad():
        fc = model(x)  # [T, C, H]
    header = ([tname] if times is not None else []) + [f"{t}@{k}" for t in model.targets for k in range(1, model.horizon + 1)]
    lines = [",".join(header)]
    for r in range(model.lookback - 1, x.shape[0]):
        cells = ([times[r]] if times is not None else []) + [format_float(v) for v in fc[r].reshape(-1).tolist()]
        lines.append(",".join(cells))
    with open(out_path, "w", newline="") as f:
        f.write("\n".join(lines) + "\n")
    return len(lines) - 1


# ---------------------------------------------------------------- training example

def fit_skip(z, end, lookback, horizon, relative, ridge=1e-4):
    """Closed-form ridge fit of the skip path on every window of every target whose inputs and targets lie in [0, end)."""
    xs, ys = [], []
    for c in range(z.shape[1]):
        s = z[:end, c]
        w = s.unfold(0, lookback + horizon, 1)  # [N, L+H]
        inp, tgt = w[:, :lookback], w[:, lookback:]
        last = inp[:, -1:] if relative else torch.zeros_like(inp[:, -1:])
        xs.append(inp - last)
        ys.append(tgt - last)
    x = torch.cat(xs).double()
    y = torch.cat(ys).double()
    xa = torch.cat([x, torch.ones(x.shape[0], 1, dtype=torch.float64)], 1)
    a = xa.T @ xa
    lam = ridge * torch.diagonal(a)[:lookback].sum() / lookback + 1e-9
    a[:lookback, :lookback] += lam * torch.eye(lookback, dtype=torch.float64)
    sol = torch.linalg.solve(a, xa.T @ y)  # [L+1, H]
    return sol[:lookback].T.float().contiguous(), sol[lookback].float()


def train(args):
    torch.manual_seed(args.seed)
    tname, times, cols = read_table(args.data, args.time)
    targets = args.targets.split(",")
    features = args.features.split(",") if args.features else targets
    x = torch.from_numpy(np.stack([cols[f] for f in features], 1))
    if args.rows:
        x = x[:args.rows]
    n = x.shape[0]
    end = int(n * 0.7)
    nt = len(targets)
    m = EdgeRnnForecaster(args.arch, features, targets, args.horizon, args.hidden, args.layers, args.transform,
                          args.skip, args.lookback, args.period, name=args.name, version="1")
    with torch.no_grad():
        xt = x[:end]
        for i in range(len(features)):
            col = xt[:, i][torch.isfinite(xt[:, i])]
            m.scaler.mean[i] = col.mean()
            m.scaler.std[i] = col.std(unbiased=False).clamp_min(1e-6)
        filled = m.fill(x)
        if args.transform == "diff":
            d = filled[1:end] - filled[:end - 1]
            m.scaler.diff_std.copy_(d.std(0, unbiased=False).clamp_min(1e-6))
        z = m.normalized_targets(filled)
        if hasattr(m, "skip"):
            w, b = fit_skip(z, end, args.lookback, args.horizon, args.skip == "nlinear")
            m.skip.weight.copy_(w)
            m.skip.bias.copy_(b)
        feats = m.network_features(filled)
        skip = m.skip_forecast(filled)  # [T, C, H]
        truth = torch.full((n, nt, args.horizon), math.nan)
        zt = m.normalized_targets(torch.where(torch.isfinite(x), x, torch.tensor(math.nan)))
        for k in range(args.horizon):
            truth[:n - 1 - k, :, k] = zt[1 + k:, :]
        residual = truth - skip
    opt = torch.optim.Adam(list(m.rnn.parameters()) + list(m.head.parameters()), lr=args.lr)
    chunk, batch = 64, 16
    lo = max(0, m.lookback - 1 - 16)
    hi = end - args.horizon - chunk
    for step in range(args.steps):
        starts = torch.randint(lo, max(lo + 1, hi), (batch,))
        xb = torch.stack([feats[s:s + chunk] for s in starts])
        rb = torch.stack([residual[s:s + chunk] for s in starts])  # [B, T, C, H]
        y, _ = m.rnn(xb)
        y = m.head(y).reshape(batch, chunk, args.horizon, nt).transpose(2, 3)
        mask = torch.isfinite(rb)
        loss = ((y - torch.nan_to_num(rb)) ** 2)[mask].mean()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step}: loss {loss.item():.5f}", file=sys.stderr)
    save(m, args.out)
    print(f"wrote {args.out}", file=sys.stderr)


def main(argv):
    if len(argv) >= 1 and argv[0] == "forecast":
        p = argparse.ArgumentParser(prog="edgernn_model.py forecast")
        p.add_argument("model")
        p.add_argument("input")
        p.add_argument("output")
        p.add_argument("--targets")
        p.add_argument("--features")
        p.add_argument("--time")
        a = p.parse_args(argv[1:])
        split = lambda s: s.split(",") if s else None  # noqa: E731
        m = load(a.model, split(a.targets), split(a.features))
        rows = forecast_csv(m, a.input, a.output, a.time)
        print(f"edgernn_model.py forecast: {rows} forecast rows, wrote {a.output}", file=sys.stderr)
        return 0
    if len(argv) >= 1 and argv[0] == "train":
        p = argparse.ArgumentParser(prog="edgernn_model.py train")
        p.add_argument("--data", required=True)
        p.add_argument("--targets", required=True)
        p.add_argument("--features")
        p.add_argument("--time")
        p.add_argument("--horizon", type=int, required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--arch", default="lstm", choices=["lstm", "gru", "rnn_tanh", "rnn_relu"])
        p.add_argument("--hidden", type=int, default=16)
        p.add_argument("--layers", type=int, default=1)
        p.add_argument("--skip", default="nlinear", choices=["nlinear", "linear", "none"])
        p.add_argument("--transform", default="diff", choices=["diff", "level"])
        p.add_argument("--lookback", type=int, default=96)
        p.add_argument("--steps", type=int, default=200)
        p.add_argument("--lr", type=float, default=3e-3)
        p.add_argument("--rows", type=int, default=0)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--period", type=float)
        p.add_argument("--name", default="pytorch")
        train(p.parse_args(argv[1:]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main(sys.argv[1:]))
