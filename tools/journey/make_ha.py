# A Home Assistant history export (long format) built from NAB's machine_temperature (5-minute samples):
# jittered last_changed times, 'unavailable'/'unknown' cells, a second entity mixed in, a stray blank row.
import csv, random, datetime as dt, os, sys
# NAB's machine_temperature recording as the project bundles it (models/data/nab, MIT, see its SOURCE.txt)
NAB = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'models', 'data', 'nab', 'machine_temperature_system_failure.csv')
random.seed(3)
rows = list(csv.reader(open(NAB)))[1:]
rows = rows[:8000]
# the export ends a few minutes ago, as a fresh one would
shift = dt.datetime.utcnow().replace(microsecond=0) - dt.timedelta(minutes=4) - dt.datetime.strptime(rows[-1][0], '%Y-%m-%d %H:%M:%S')
out = open('history.csv', 'w', newline='')
w = csv.writer(out)
w.writerow(['entity_id', 'state', 'last_changed'])
for i, (ts, v) in enumerate(rows):
    t = dt.datetime.strptime(ts, '%Y-%m-%d %H:%M:%S') + shift + dt.timedelta(seconds=random.randint(0, 9))
    iso = t.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + '+00:00'
    r = random.random()
    state = 'unavailable' if r < 0.01 else ('unknown' if r < 0.013 else f'{(float(v) - 32) / 1.8:.2f}')
    w.writerow(['sensor.machine_temperature', state, iso])
    if i % 3 == 0:
        w.writerow(['sensor.machine_humidity', f'{40 + random.random() * 5:.1f}', iso])
    if i == 4000:
        w.writerow([])
out.close()
# the live tail: what the sensor sends after the export (values only, one per period)
live = [(float(v) - 32) / 1.8 for _, v in list(csv.reader(open(NAB)))[8001:8030]]
open('live.txt', 'w').write('\n'.join(f'{x:.2f}' for x in live) + '\n')
