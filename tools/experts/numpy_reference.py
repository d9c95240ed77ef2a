#!/usr/bin/python3
"""Issue 11's numpy reference: a plain exponentially weighted aggregate of four simple experts, under the protocol of
`edgernn backtest --protocol online`, to compare EdgeRnn's served aggregate against.

Protocol (as BacktestRunner): z-score each target on the first 20 % of rows; the offline part is rows [0, 25 %); forecast
windows end at rows t = max(25 % - 1, L - 1) .. n - 1 - H; MSE on the normalized scale over every window, step and target.

Experts, per target, forecasting steps 1..H from the values up to row t:
  naive          the last value
  seasonal_naive the latest value of the same phase (period S rows, as the backtest's seasonal_naive)
  nlinear        the offline NLinear (Zeng et al. 2023): one linear map of the last L values minus the last value,
                 least squares (ridge 1e-4 · mean diagonal) on the training rows, shared by the targets
  online_linear  the same form over the last 48 values, one per target, by recursive least squares (no forgetting),
                 learning from a window only once all H of its future values have been observed
Aggregate, per target and step k: w_e ∝ exp(-η L_e), L_e = cumulative squared error of expert e on the forecasts of
that cell already scored (delayed feedback: the forecast made at row r for step k is scored when row r + 1 + k arrives),
η = 1 / (2 v), v = mean squared error of the aggregate itself in that cell so far.

usage: numpy_reference.py FILE.csv --horizon H [--target all|COL] [--rows N] [--season S] [--lookback 336]
prints one JSON line: {"data", "horizon", "windows", "season", "mse": {expert..., "aggregate"}}
"""
import argparse, csv, json, os
import numpy as np


def load(path, target, rows):
    with open(path, newline="") as f:
        r = csv.reader(f)
        head = next(r)
        data = [row for row in r]
    if rows:
        data = data[:rows]
    cols = [c for c in head[1:]] if target == "all" else target.split(",")
    idx = [head.index(c) for c in cols]
    return np.array([[float(row[i]) for i in idx] for row in data], dtype=np.float64)


def fit_nlinear(z, end, L, H, ridge=1e-4):
    X, Y = [], []
    for c in range(z.shape[1]):
        x = z[:end, c]
        for t in range(L - 1, end - H):
            last = x[t]
            X.append(np.append(x[t - L + 1:t + 1] - last, 1.0))
            Y.append(x[t + 1:t + 1 + H] - last)
    X, Y = np.array(X), np.array(Y)
    A = X.T @ X
    lam = max(ridge, 1e-9) * np.trace(A[:L, :L]) / L + 1e-12
    A[np.arange(L), np.arange(L)] += lam
    return np.linalg.solve(A, X.T @ Y)  # [L + 1, H]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv"); ap.add_argument("--horizon", type=int, required=True)
    ap.add_argument("--target", default="value"); ap.add_argument("--rows", type=int, default=0)
    ap.add_argument("--season", type=int, required=True); ap.add_argument("--lookback", type=int, default=336)
    a = ap.parse_args()
    raw = load(a.csv, a.target, a.rows)
    n, C = raw.shape; H, S, W = a.horizon, a.season, 48
    train_end, test_start = int(n * 0.2), int(n * 0.25)
    z = (raw - raw[:train_end].mean(0)) / raw[:train_end].std(0)
    L = min(a.lookback, train_end // 4)
    nl = fit_nlinear(z, train_end, L, H)
    first, last = max(test_start - 1, L - 1), n - 1 - H
    names = ["naive", "seasonal_naive", "nlinear", "online_linear"]
    E = len(names)
    P = np.stack([np.eye(W + 1) * 100.0] * C); B = np.zeros((C, W + 1, H))   # RLS per target: P = (X'X)^-1, B = weights
    F = np.zeros((n, E, H, C))                                               # forecasts made at each row
    Lc = np.zeros((H, C, E)); V = np.zeros((H, C)); N = np.zeros((H, C))     # cumulative losses, aggregate loss, count
    agg = np.zeros((n, H, C))
    ks = np.arange(H)
    for t in range(max(L, W) - 1, last + 1):
        # 1. score the forecasts made at rows t-1-k for step k on the truth of row t, then update the weights' evidence
        r = t - 1 - ks; ok = r >= max(L, W) - 1
        if ok.any():
            f = F[r[ok], :, ks[ok], :]                         # [k, E, C]
            y = z[t][None, :]
            l = (f - y[:, None, :]) ** 2
            Lc[ok] += l.transpose(0, 2, 1)
            V[ok] += (agg[r[ok], ks[ok], :] - y) ** 2; N[ok] += 1
        # 2. the online linear models learn from the window that ended H rows ago (its future is now observed)
        e = t - H
        if e >= W - 1:
            for c in range(C):
                x = np.append(z[e - W + 1:e + 1, c] - z[e, c], 1.0)
                y = z[e + 1:t + 1, c] - z[e, c]
                Px = P[c] @ x; g = Px / (1.0 + x @ Px)
                B[c] += np.outer(g, y - x @ B[c]); P[c] -= np.outer(g, Px)
        # 3. every expert forecasts from row t, and the aggregate combines them
        now = z[t]
        F[t, 0] = now
        back = S * ((ks + S) // S)
        F[t, 1] = z[t + 1 + ks - back] if S > 1 else now
        for c in range(C):
            F[t, 2, :, c] = now[c] + np.append(z[t - L + 1:t + 1, c] - now[c], 1.0) @ nl
            F[t, 3, :, c] = now[c] + np.append(z[t - W + 1:t + 1, c] - now[c], 1.0) @ B[c]
        eta = np.where(N > 0, 1.0 / (2.0 * np.maximum(V / np.maximum(N, 1), 1e-12)), 0.0)
        x = eta[..., None] * (Lc - Lc.min(-1, keepdims=True))
        w = np.exp(-np.minimum(x, 700)); w /= w.sum(-1, keepdims=True)  # [H, C, E]
        agg[t] = (w * F[t].transpose(1, 2, 0)).sum(-1)
    win = np.arange(first, last + 1)
    truth = z[win[:, None] + 1 + ks[None, :]]                        # [T, H, C]
    mse = {nm: float(((F[win, i] - truth) ** 2).mean()) for i, nm in enumerate(names)}
    mse["aggregate"] = float(((agg[win] - truth) ** 2).mean())
    print(json.dumps({"data": os.path.basename(a.csv), "horizon": H, "windows": len(win), "season": S, "mse": mse}))


if __name__ == "__main__":
    main()
