#!/usr/bin/env python3
"""The PyTorch twin of `edgernn train --task next-char` and `edgernn generate`, for comparing loss and speed.

  char_train.py train --data corpus.txt [--updates 1500] [--batch 32] [--seq-length 64] [--hidden 128] [--layers 2]
                      [--lr 0.002] [--clip 5] [--seed 1] [--eval-every 250] [--threads 1] [--out m.safetensors]
  char_train.py generate --model m.safetensors [--length 2000] [--threads 1]

The same network (the reference Forecaster, reference_forecaster.py: nn.LSTM x layers + nn.Linear, one-hot inputs over
the text's characters in ordinal order), the same split (the last 10% of the characters, rounded down, is validation),
the same batch streams (the training text cut into `batch` contiguous streams, stream b starting at b*floor((n-1)/B);
each update the next seq-length characters of every stream with the state carried and detached; after the last full
window the streams start over from zero state), the same loss (cross-entropy, mean over the window), the same
optimizer (torch.optim.Adam(lr), clip_grad_norm_(clip)), the same validation (the validation text as `batch` streams,
forward only from zero state, mean over full windows). Initial weights are PyTorch's own (the same distribution,
uniform +-1/sqrt(H), not the same draws). Throughput is training characters per second, evaluation time excluded.
`generate` steps the model one character at a time (batch 1, state carried), sampling with torch.multinomial, and
reports characters per second.
"""
import argparse
import json
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_forecaster import Forecaster, load_safetensors, save_safetensors  # noqa: E402


def streams(ids, batch, steps):
    length = (len(ids) - 1) // batch
    return length, length // steps


def window(ids, batch, steps, length, w, vocab):
    idx = torch.arange(batch)[:, None] * length + w * steps + torch.arange(steps)[None, :]
    x = nn.functional.one_hot(ids[idx], vocab).float()
    return x, ids[idx + 1]


def evaluate(model, ids, batch, steps, vocab):
    length, windows = streams(ids, batch, steps)
    total, state = 0.0, None
    with torch.no_grad():
        for w in range(windows):
            x, t = window(ids, batch, steps, length, w, vocab)
            y, state = model(x, state)
            total += nn.functional.cross_entropy(y.reshape(-1, vocab), t.reshape(-1)).item()
    return total / windows


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def train(a):
    torch.manual_seed(a.seed)
    text = open(a.data, encoding="utf-8").read()
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    n_val = int(len(ids) * 0.1)
    train_ids, val_ids = ids[:len(ids) - n_val], ids[len(ids) - n_val:]
    v = len(vocab)
    model = Forecaster(a.arch, v, a.hidden, a.layers, v)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    length, windows = streams(train_ids, a.batch, a.seq_length)
    print(f"{a.data}: {len(ids)} characters, vocab {v}; train {len(train_ids)}, validation {len(val_ids)}; "
          f"{a.layers} x {a.arch} {a.hidden}, batch {a.batch} x {a.seq_length}, {a.updates} updates, Adam lr {a.lr}, "
          f"clip {a.clip}, torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    state, train_time, loss_sum, loss_n, val = None, 0.0, 0.0, 0, float("nan")
    start = time.time()
    for u in range(a.updates):
        t0 = time.perf_counter()
        w = u % windows
        if w == 0:
            state = None
        x, t = window(train_ids, a.batch, a.seq_length, length, w, v)
        opt.zero_grad()
        y, state = model(x, state)
        loss = nn.functional.cross_entropy(y.reshape(-1, v), t.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        state = detach(state)
        train_time += time.perf_counter() - t0
        loss_sum += loss.item()
        loss_n += 1
        last = u == a.updates - 1
        if (u + 1) % a.eval_every == 0 or last:
            val = evaluate(model, val_ids, a.batch, a.seq_length, v)
        if (u + 1) % a.log_every == 0 or last:
            cps = (u + 1) * a.batch * a.seq_length / train_time
            print(f"update {u + 1}/{a.updates}  train {loss_sum / loss_n:.4f} nats/char  val {val:.4f} nats/char  "
                  f"{cps:.0f} chars/s  {time.time() - start:.0f} s", flush=True)
            loss_sum, loss_n = 0.0, 0
    cps = a.updates * a.batch * a.seq_length / train_time
    print(f"=> pytorch: {a.updates} updates in {train_time:.1f} s ({cps:.0f} chars/s), val {val:.4f} nats/char")
    if a.out:
        save_safetensors(a.out, model.state_dict(), {"arch": a.arch, "output_activation": "softmax",
                                                      "vocab": json.dumps(vocab), "task": "next-char",
                                                      "inputs": "one-hot", "val_loss_nats_per_char": repr(val)})


def generate(a):
    tensors, meta = load_safetensors(a.model)
    vocab = json.loads(meta["vocab"])
    v = len(vocab)
    hidden = tensors["rnn.weight_hh_l0"].shape[1]
    layers = sum(1 for k in tensors if k.startswith("rnn.weight_ih_l"))
    model = Forecaster(meta["arch"], v, hidden, layers, v)
    model.load_state_dict(tensors, strict=True)
    torch.manual_seed(a.seed)
    x = torch.zeros(1, 1, v)
    cur = vocab.index("\n") if "\n" in vocab else 0
    state, out = None, []
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(a.length):
            x.zero_()
            x[0, 0, cur] = 1.0
            y, state = model(x, state)
            cur = int(torch.multinomial(torch.softmax(y[0, 0] / a.temperature, -1), 1))
            out.append(vocab[cur])
    dt = time.perf_counter() - t0
    print("".join(out[:300]))
    print(f"=> pytorch generate: {a.length} characters in {dt:.3f} s, {a.length / dt:.0f} chars/s "
          f"(one character per call, torch {torch.__version__}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["train", "generate"])
    ap.add_argument("--data")
    ap.add_argument("--model")
    ap.add_argument("--out")
    ap.add_argument("--arch", default="lstm")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-length", type=int, default=64)
    ap.add_argument("--updates", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--length", type=int, default=2000)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train(args) if args.mode == "train" else generate(args)
