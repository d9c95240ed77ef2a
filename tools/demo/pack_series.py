#!/usr/bin/env python3
"""Packs the demo's sensor recording (a timestamp,value CSV) into the compact form the executable embeds.

    python3 tools/demo/pack_series.py models/data/nab/machine_temperature_system_failure.csv \
        src/EdgeRnn.Daemon/DemoSeries.bin

Layout, little-endian: "EDS1", int32 row count, then per row an int64 time (Unix milliseconds, UTC; the CSV's times have
no zone and are read as UTC, as edgernn's CSV reader does) and a float32 value (the CSV's decimal text rounded once to
float32, as the reader does). 12 bytes a row instead of ~32 of text: the CSV alone was 732 KB of the executable.
The CSV in models/data stays the unmodified original; Demo.LoadSeries reads this file, and a test checks the two agree.
"""
import csv, struct, sys
from datetime import datetime, timezone

src, dst = sys.argv[1], sys.argv[2]
rows = []
with open(src, newline="") as f:
    r = csv.reader(f)
    next(r)
    for t, v in r:
        ms = int(datetime.strptime(t, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp() * 1000)
        rows.append((ms, float(v)))
with open(dst, "wb") as f:
    f.write(b"EDS1" + struct.pack("<i", len(rows)))
    for ms, v in rows:
        f.write(struct.pack("<qf", ms, v))
print(f"{dst}: {len(rows)} rows")
