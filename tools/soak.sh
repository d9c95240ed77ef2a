#!/usr/bin/env bash
# Soak test of `edgernn run` (not part of CI). For DURATION seconds (default 660):
#  - a real mosquitto on a loopback port, restarted (SIGTERM, store kept) every 3-8 s;
#  - the daemon (mqtt: source -> forecast -> MQTT) SIGKILLed at random after 4-60 s and started again at once;
#  - its input, published at 20 Hz, mixes in bad rows (not JSON, a non-number value, an empty object) and far-future or
#    absurd stamps ("9999-12-31T23:59:59Z", 1e300, year 3000, +2^31 ms), about 1 row in 25;
#  - a persistent QoS 1 subscriber records every forecast.
# At the end the daemon drains (SIGTERM) and the script reports: seq numbers received, gaps (must be 0), seq numbers
# received again with a different payload (a reused seq: must be 0), identical redeliveries (MQTT QoS 1 is at least
# once: a SIGKILL between the broker's PUBACK and the saved ack cursor re-sends, with the same seq and payload), and the
# daemon's RSS over time. Needs mosquitto and mosquitto-clients. Usage: nice -n 10 tools/soak.sh [work-dir]
set -u
DURATION=${DURATION:-660}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/edgernn-soak.XXXXXX)}
mkdir -p "$work"
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
port=$(free_port); mport=$(free_port)
cli="$root/src/EdgeRnn.Cli/bin/Release/net10.0/edgernn.dll"
[ -f "$cli" ] || dotnet build "$root/src/EdgeRnn.Cli" -c Release -v q --nologo >/dev/null
model="$work/soak.safetensors"
if [ ! -f "$model" ]; then
  dotnet "$cli" train --data "$root/models/data/nab/machine_temperature_system_failure.csv" --target value --horizon 6 --out "$model" \
    --arch lstm --hidden 16 --epochs 1 --rows 3000 --lookback 24 --name soak >"$work/train.log" 2>&1 || { cat "$work/train.log"; exit 1; }
fi
mkdir -p "$work/broker"
cat >"$work/broker/mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
user $(id -un)
persistence true
persistence_location $work/broker/
autosave_interval 1
max_queued_messages 1000000
log_dest file $work/broker/mosquitto.log
CONF
: >"$work/received.jsonl"; : >"$work/rss.tsv"; : >"$work/daemon.log"; : >"$work/events.log"
stop_flag="$work/stop"; rm -f "$stop_flag" "$work/brokers_done"
start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }

broker_pid=""
start_broker() { mosquitto -c "$work/broker/mosquitto.conf" & broker_pid=$!; sleep 0.3; }
# broker restarter: runs until the stop file appears, leaves a broker running at the end
(
  restarts=0
  mosquitto -c "$work/broker/mosquitto.conf" & b=$!
  while [ ! -f "$stop_flag" ]; do
    sleep $(( 3 + RANDOM % 6 ))
    [ -f "$stop_flag" ] && break
    kill -TERM $b; wait $b 2>/dev/null
    restarts=$((restarts + 1))
    mosquitto -c "$work/broker/mosquitto.conf" & b=$!
  done
  echo "$restarts" >"$work/broker_restarts"
  echo $b >"$work/broker_pid"
  wait $b
) &
restarter=$!
sleep 1

# subscriber: persistent session (clean session off, fixed id), QoS 1, reconnecting
(
  while [ ! -f "$work/sub_stop" ]; do
    mosquitto_sub -h 127.0.0.1 -p "$port" -c -i soak-subscriber -q 1 -t 'edgernn/soak/+/forecast' >>"$work/received.jsonl" 2>>"$work/sub.err"
    sleep 0.2
  done
) &
subloop=$!
sleep 1

# sensor input at 20 Hz with bad rows and bad stamps mixed in
cat >"$work/gen.py" <<'PY'
import json, math, os, random, sys, time
random.seed()
stop = sys.argv[1]
i = 0
bad = ['not json at all', '{"value": "abc"}', '{}', '{"ts": "9999-12-31T23:59:59Z", "value": 1.0}', '{"ts": 1e300, "value": 2.0}',
       '{"ts": 32503680000000, "value": 3.0}', None]
try:
    while not os.path.exists(stop):
        i += 1
        now = int(time.time() * 1000)
        if random.random() < 0.04:
            b = random.choice(bad)
            line = b if b is not None else json.dumps({"ts": now + 2**31, "value": 70.0})  # a device clock that jumped +2^31 ms
        else:
            line = json.dumps({"ts": now, "value": 70.0 + 10.0 * math.sin(i / 200.0) + random.gauss(0, 0.5)})
        sys.stdout.write(line + "\n"); sys.stdout.flush()
        time.sleep(0.05)
except (BrokenPipeError, KeyboardInterrupt):
    pass
PY
(
  while [ ! -f "$stop_flag" ]; do
    python3 "$work/gen.py" "$stop_flag" | mosquitto_pub -h 127.0.0.1 -p "$port" -l -q 0 -t sensors/soak 2>>"$work/pub.err"
    sleep 0.2
  done
) &
publoop=$!

daemon_pid=""
start_daemon() {
  dotnet "$cli" run --source mqtt:sensors/soak --stream s1 --model "$model" --mqtt "mqtt://127.0.0.1:$port" --gateway soak \
    --state-dir "$work/state" --metrics "127.0.0.1:$mport" --sample-period-seconds 0.05 --condition on --outbox-fsync-seconds 1 \
    --checkpoint-interval-seconds 5 --fine-tune on --log-level Warning >>"$work/daemon.log" 2>&1 &
  daemon_pid=$!
  echo "$(elapsed) start $daemon_pid" >>"$work/events.log"
}
rss_of() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }

kills=0
start_daemon
while [ "$(elapsed)" -lt "$DURATION" ]; do
  life=$(( 4 + RANDOM % 57 )); t=0
  while [ $t -lt $life ] && [ "$(elapsed)" -lt "$DURATION" ]; do
    sleep 1; t=$((t + 1))
    r=$(rss_of "$daemon_pid"); [ -n "$r" ] && printf '%s\t%s\t%s\n' "$(elapsed)" "$daemon_pid" "$r" >>"$work/rss.tsv"
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
      wait "$daemon_pid"; echo "$(elapsed) EXITED $daemon_pid code $?" >>"$work/events.log"; start_daemon
    fi
  done
  [ "$(elapsed)" -ge "$DURATION" ] && break
  kill -KILL "$daemon_pid"; wait "$daemon_pid" 2>/dev/null
  kills=$((kills + 1)); echo "$(elapsed) SIGKILL $daemon_pid" >>"$work/events.log"
  sleep 0.$((RANDOM % 10))
  start_daemon
done

# wind down: input stops, the broker stays up, the daemon drains its outbox and exits cleanly
touch "$stop_flag"
kill "$publoop" 2>/dev/null; wait "$publoop" 2>/dev/null
sleep 10
kill -TERM "$daemon_pid"; wait "$daemon_pid"; code=$?
echo "$(elapsed) SIGTERM $daemon_pid exit $code" >>"$work/events.log"
sleep 5
touch "$work/sub_stop"; pkill_sub=$(pgrep -P "$subloop" mosquitto_sub); [ -n "$pkill_sub" ] && kill $pkill_sub
wait "$subloop" 2>/dev/null
[ -f "$work/broker_pid" ] && kill -TERM "$(cat "$work/broker_pid")"
wait "$restarter" 2>/dev/null

python3 - "$work" "$kills" "$DURATION" <<'PY' | tee "$work/report.txt"
import json, sys, collections
work, kills, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = collections.defaultdict(dict)   # stream -> seq -> set of payloads
copies = collections.Counter()
bad_lines = 0
for line in open(f"{work}/received.jsonl", encoding="utf-8", errors="replace"):
    line = line.strip()
    if not line: continue
    try: m = json.loads(line)
    except ValueError: bad_lines += 1; continue
    s, q = m["stream"], m["seq"]
    seen[s].setdefault(q, set()).add(line)
    copies[(s, q)] += 1
print(f"soak: {duration} s, daemon SIGKILLed {kills} times, broker restarted {open(work + '/broker_restarts').read().strip()} times")
for s, d in seen.items():
    seqs = sorted(d)
    gaps = [q for q in range(1, seqs[-1] + 1) if q not in d]
    conflicts = [q for q in seqs if len(d[q]) > 1]
    redeliveries = sum(copies[(s, q)] - 1 for q in seqs)
    print(f"stream {s}: {len(seqs)} distinct seq received, 1..{seqs[-1]}; gaps {len(gaps)}{' ' + str(gaps[:20]) if gaps else ''}; "
          f"seq reused with a different payload {len(conflicts)}{' ' + str(conflicts[:20]) if conflicts else ''}; identical redeliveries (QoS 1) {redeliveries}")
if bad_lines: print(f"{bad_lines} received lines were not JSON")
rows = [l.split("\t") for l in open(f"{work}/rss.tsv") if l.strip()]
if rows:
    print("RSS over time (s, MiB, pid):")
    step = max(1, len(rows) // 20)
    for r in rows[::step]: print(f"  {int(r[0]):5d}  {int(r[2]) / 1024:7.1f}  {r[1]}")
    by_pid = collections.defaultdict(list)
    for r in rows: by_pid[r[1]].append(int(r[2]))
    longest = max(by_pid.values(), key=len)
    print(f"RSS min {min(int(r[2]) for r in rows) / 1024:.1f} MiB, max {max(int(r[2]) for r in rows) / 1024:.1f} MiB; "
          f"longest-lived instance ({len(longest)} s): first {longest[0] / 1024:.1f} MiB, last {longest[-1] / 1024:.1f} MiB")
PY
echo "events: $(grep -c start "$work/events.log") starts, $(grep -c EXITED "$work/events.log") unexpected exits; logs in $work" | tee -a "$work/report.txt"
grep -m5 -iE "fail|error|crit" "$work/daemon.log" | cut -c1-200
