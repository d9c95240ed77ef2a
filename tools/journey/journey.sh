#!/bin/bash
# A new user's journey (issue 15), end to end: a Home Assistant history export with its quirks -> train -> forecast --plot
# -> run with a warm start against a real mosquitto -> the first forecast, timed from start.
# usage: tools/journey/journey.sh [EDGERNN]   (default: the Release build; needs mosquitto, mosquitto-clients, curl)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
E=${1:-$HERE/../../src/EdgeRnn.Cli/bin/Release/net10.0/edgernn}
W=$(mktemp -d /tmp/edgernn-journey.XXXX); cd "$W"; echo "# in $W"
python3 "$HERE/make_ha.py"    # history.csv: entity_id,state,last_changed ending 4 minutes ago; live.txt: what comes next
echo "\$ edgernn train --input history.csv --target state --horizon 12 --output m.safetensors"
$E train --input history.csv --target state --horizon 12 --output m.safetensors 2>&1 | tail -3; echo "exit ${PIPESTATUS[0]}"
echo "\$ edgernn train --input history.csv --id sensor.machine_temperature --target state --horizon 12 --period 5m --epochs 3 --output m.safetensors"
$E train --input history.csv --id sensor.machine_temperature --target state --horizon 12 --period 5m --epochs 3 --output m.safetensors 2>&1 | tail -12
echo "\$ edgernn forecast --model m.safetensors --input history.csv --id sensor.machine_temperature --output f.csv --plot f.svg --intervals 0.9"
$E forecast --model m.safetensors --input history.csv --id sensor.machine_temperature --output f.csv --plot f.svg --intervals 0.9 2>&1 | tail -5
echo "f.csv: $(head -1 f.csv | cut -c1-120)..."; tail -1 f.csv | cut -c1-120; ls -l f.svg
PORT=18830
mosquitto -p $PORT >/dev/null 2>&1 & MQ=$!; sleep 1
mosquitto_sub -p $PORT -t 'edgernn/#' -t 'homeassistant/#' -v -F '@s.@N %t %p' > sub.log 2>&1 & SUB=$!
echo "\$ edgernn run --source mqtt:home/machine/temperature --model m.safetensors --mqtt mqtt://localhost:$PORT --warm-start history.csv --id sensor.machine_temperature --stream machine --unit °C --device-class temperature --state-dir state --metrics 127.0.0.1:19108"
T0=$(date +%s.%N)
$E run --source mqtt:home/machine/temperature --model m.safetensors --mqtt mqtt://localhost:$PORT --warm-start history.csv \
   --id sensor.machine_temperature --stream machine --unit °C --device-class temperature --state-dir state --metrics 127.0.0.1:19108 > run.log 2>&1 & RUN=$!
sleep 3; echo "healthz at +3 s: $(curl -s 127.0.0.1:19108/healthz | tr '\n' ' ')"
# the sensor's next reading, as Home Assistant's MQTT statestream would send it
V=$(head -1 live.txt)
echo "\$ mosquitto_pub -t home/machine/temperature -m '{\"state\": \"$V\", \"last_changed\": \"$(date -u +%Y-%m-%dT%H:%M:%S+00:00)\"}'"
mosquitto_pub -p $PORT -t home/machine/temperature -m "{\"state\": \"$V\", \"last_changed\": \"$(date -u +%Y-%m-%dT%H:%M:%S+00:00)\"}"
for i in $(seq 1 60); do grep -q '/machine/forecast ' sub.log && break; sleep 1; done
T1=$(grep -m1 '/machine/forecast ' sub.log | cut -d' ' -f1)
[ -n "$T1" ] && echo "first forecast at +$(python3 -c "print(round($T1-$T0,1))") s after start (sample period 300 s)" || echo "no forecast within 60 s"
grep -m1 '/machine/forecast ' sub.log | cut -d' ' -f2- | cut -c1-300
grep -m1 '/machine/anomaly ' sub.log | cut -d' ' -f2- | cut -c1-200
grep -c '^[0-9.]* homeassistant/' sub.log | sed 's/^/discovery messages: /'
echo "healthz: $(curl -s 127.0.0.1:19108/healthz | tr '\n' ' ')"
kill $RUN; wait $RUN; echo "run exit $?"
grep -E "warm start|-> model|anomaly score of" run.log | cut -c1-220
kill $SUB $MQ 2>/dev/null; wait 2>/dev/null
echo "# files: $W/f.csv $W/f.svg $W/run.log $W/sub.log"
