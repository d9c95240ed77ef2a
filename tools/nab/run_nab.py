#!/usr/bin/python3
"""Runs `edgernn detect` on every file of a NAB corpus, writes NAB's results layout and runs NAB's official scorer.

usage: tools/nab/run_nab.py --nab NAB_DIR [--edgernn "CMD"] [--work DIR] [--files SUBSTR,...] [--set Name=V,...]
                           [--model M.safetensors [--precision int8|float32]] [--json out.json]

NAB_DIR is a NAB checkout (data/, labels/combined_windows.json, config/, nab/); it is only read:
the scorer runs in a copy under --work. With --files only the matching data files are scored, against the labels of
those files and the null detector re-scored on the same files, so the normalization is that of the subset.
Prints the three profile scores, the threshold the optimizer chose per profile, per-category standard scores and the
detection time. Needs Debian's python3-pandas (the scorer's only dependency).
"""
import argparse
import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

DETECTOR = "edgernn"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nab", required=True, help="NAB directory (read only)")
    ap.add_argument("--edgernn", default="edgernn", help="command that runs edgernn (e.g. 'dotnet path/edgernn.dll')")
    ap.add_argument("--work", help="scratch directory (default: a fresh temporary one)")
    ap.add_argument("--files", help="comma-separated substrings: score only data files whose path contains one")
    ap.add_argument("--set", help="detector settings passed to edgernn detect --set")
    ap.add_argument("--model", help="passed to edgernn detect --model (a forecaster file whose served forecast is a surprise channel)")
    ap.add_argument("--precision", help="passed to edgernn detect --precision (int8 or float32, with --model)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()

    nab = os.path.abspath(args.nab)
    for need in ("nab", "config", "labels/combined_windows.json", "data"):
        if not os.path.exists(os.path.join(nab, need)):
            sys.exit(f"run_nab: {nab} is not a NAB directory (no {need})")
    work = os.path.abspath(args.work) if args.work else tempfile.mkdtemp(prefix="nab-")
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    for item in ("nab", "config"):
        src = os.path.join(nab, item)
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(work, item))

    with open(os.path.join(nab, "labels", "combined_windows.json")) as f:
        windows = json.load(f)
    wanted = [s for s in (args.files or "").split(",") if s]
    files = sorted(p for p in windows if not wanted or any(s in p for s in wanted))
    if not files:
        sys.exit(f"run_nab: no data file matches --files {args.files}")
    os.makedirs(os.path.join(work, "labels"))
    with open(os.path.join(work, "labels", "combined_windows.json"), "w") as f:
        json.dump({p: windows[p] for p in files}, f, indent=4)

    cmd = shlex.split(args.edgernn)
    started = time.monotonic()
    for rel in files:
        category, name = rel.split("/")
        src = os.path.join(nab, "data", rel)
        os.makedirs(os.path.join(work, "data", category), exist_ok=True)
        shutil.copy(src, os.path.join(work, "data", rel))
        out_dir = os.path.join(work, "results", DETECTOR, category)
        os.makedirs(out_dir, exist_ok=True)
        raw = os.path.join(out_dir, "raw_" + name)
        call = cmd + ["detect", "--data", src, "--output", raw]
        if args.set:
            call += ["--set", args.set]
        if args.model:
            call += ["--model", os.path.abspath(args.model)]
        if args.precision:
            call += ["--precision", args.precision]
        r = subprocess.run(call, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"run_nab: {' '.join(call)} failed ({r.returncode}):\n{r.stderr}")
        add_labels(raw, os.path.join(out_dir, f"{DETECTOR}_{name}"), windows[rel])
        os.remove(raw)
        # NAB's null detector scores every row 0.5; the normalization needs it scored on the same files.
        null_dir = os.path.join(work, "results", "null", category)
        os.makedirs(null_dir, exist_ok=True)
        write_null(os.path.join(out_dir, f"{DETECTOR}_{name}"), os.path.join(null_dir, f"null_{name}"))
    detect_seconds = time.monotonic() - started

    # run.py's main() with its detect step left out (run.py imports detector classes, null's is not in every copy).
    drive = ("import json\n"
             "from nab.runner import Runner\n"
             "r = Runner(dataDir='data', labelPath='labels/combined_windows.json', resultsDir='results',\n"
             "           profilesPath='config/profiles.json', thresholdPath='config/thresholds.json', numCPUs=1)\n"
             "r.initialize()\n"
             f"d = ['null', '{DETECTOR}']\n"
             "r.optimize(d)\n"
             "r.score(d, json.load(open('config/thresholds.json')))\n"
             "r.normalize()\n")
    r = subprocess.run(["/usr/bin/python3", "-c", drive], cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"run_nab: the NAB scorer failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    scores = {}
    for m in re.finditer(r"Final score for '(\w+)' detector on '(\w+)' profile = (-?[\d.]+)", r.stdout):
        if m.group(1) == DETECTOR:
            scores[m.group(2)] = float(m.group(3))
    with open(os.path.join(work, "config", "thresholds.json")) as f:
        thresholds = {p: v["threshold"] for p, v in json.load(f)[DETECTOR].items()}
    categories = per_category(work, windows, files)

    print(f"NAB on {len(files)} files, detection {detect_seconds:.1f} s (edgernn detect, one process per file)")
    for p in PROFILES:
        print(f"{p:20s} score {scores[p]:7.2f}   threshold {thresholds[p]:.6f}")
    for c, v in categories.items():
        print(f"  standard, {c:22s} {v:7.2f}")
    print(f"results and scorer output in {work}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"files": len(files), "detect_seconds": detect_seconds, "scores": scores,
                       "thresholds": thresholds, "categories": categories}, f, indent=2)


def add_labels(raw, dst, file_windows):
    """Copies detect's output, adding NAB's label column (1 inside a labelled window)."""
    spans = [(w[0][:19], w[1][:19]) for w in file_windows]
    with open(raw, newline="") as fi, open(dst, "w", newline="") as fo:
        rd = csv.reader(fi)
        wr = csv.writer(fo, lineterminator="\n")
        next(rd)
        wr.writerow(["timestamp", "value", "anomaly_score", "label"])
        for row in rd:
            ts = row[0]
            label = 1 if any(a <= ts <= b for a, b in spans) else 0
            wr.writerow([ts, row[1], row[2], label])


def write_null(ours, dst):
    with open(ours, newline="") as fi, open(dst, "w", newline="") as fo:
        rd = csv.reader(fi)
        wr = csv.writer(fo, lineterminator="\n")
        wr.writerow(next(rd))
        for row in rd:
            wr.writerow([row[0], row[1], 0.5, row[3]])


def per_category(work, windows, files):
    """Standard-profile score per category, normalized as NAB normalizes the total (null = 0, perfect = 100)."""
    def read(detector):
        with open(os.path.join(work, "results", detector, f"{detector}_standard_scores.csv")) as f:
            return {row["File"]: float(row["Score"]) for row in csv.DictReader(f) if row["File"] not in ("", "Totals")}
    ours, null = read(DETECTOR), read("null")
    names = {"artificial": "artificial", "realAWSCloudwatch": "AWS", "realAdExchange": "ad exchange",
             "realKnownCause": "known cause", "realTraffic": "traffic", "realTweets": "tweets"}
    out = {}
    for key, label in names.items():
        sel = [p for p in files if p.split("/")[0].startswith(key)]
        perfect = sum(len(windows[p]) for p in sel)
        if not sel or perfect == 0:
            continue
        s = sum(ours.get(p, 0.0) for p in sel)
        b = sum(null.get(p, 0.0) for p in sel)
        out[label] = 100 * (s - b) / (perfect - b)
    return out


if __name__ == "__main__":
    main()
