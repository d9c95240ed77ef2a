#!/usr/bin/env bash
# Training and generation speed of edgernn against PyTorch (tests/python/char_train.py), same settings, interleaved
# (edgernn, torch, edgernn, torch, ...) so both see the same machine load; prints each run and the medians.
#   tests/python/char_speed.sh EDGERNN CORPUS MODEL [ROUNDS=3] [UPDATES=30]
# EDGERNN is the command to run edgernn (e.g. artifacts/linux-x64/edgernn, or "dotnet path/edgernn.dll").
# Not part of CI: it trains for minutes.
set -euo pipefail
edgernn=$1 corpus=$2 model=$3 rounds=${4:-3} updates=${5:-30}
here=$(cd "$(dirname "$0")" && pwd)
python=${EDGERNN_PYTHON:-/usr/bin/python3}
export PYTHONDONTWRITEBYTECODE=1
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ours=() torch=() gf=() gq=() gt=()
for r in $(seq "$rounds"); do
  o=$($edgernn train --task next-char --data "$corpus" --out "$tmp/m.safetensors" --updates "$updates" --eval-every 100000 --log-every "$updates" 2>&1 | grep -o '([0-9]* chars/s)' | tr -dc 0-9)
  t=$("$python" "$here/char_train.py" train --data "$corpus" --updates "$updates" --eval-every 100000 --log-every "$updates" | grep '^=>' | grep -o '([0-9]* chars/s)' | tr -dc 0-9)
  f=$($edgernn generate --model "$model" --length 5000 --precision float32 --seed "$r" 2>&1 >/dev/null | grep -o '[0-9]* steps/s' | tr -dc 0-9)
  q=$($edgernn generate --model "$model" --length 5000 --precision int8 --seed "$r" 2>&1 >/dev/null | grep -o '[0-9]* steps/s' | tr -dc 0-9)
  g=$("$python" "$here/char_train.py" generate --model "$model" --length 5000 --seed "$r" | grep '^=>' | grep -o '[0-9]* chars/s' | tr -dc 0-9)
  echo "round $r: train edgernn $o chars/s, torch $t chars/s; generate edgernn float32 $f, int8 $q, torch $g chars/s"
  ours+=("$o") torch+=("$t") gf+=("$f") gq+=("$q") gt+=("$g")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mo=$(median "${ours[@]}") mt=$(median "${torch[@]}") mf=$(median "${gf[@]}") mq=$(median "${gq[@]}") mg=$(median "${gt[@]}")
echo "median training: edgernn $mo chars/s, torch $mt chars/s (x$(awk "BEGIN {printf \"%.2f\", $mo / $mt}"))"
echo "median generation: edgernn float32 $mf, int8 $mq, torch $mg chars/s (float32 x$(awk "BEGIN {printf \"%.1f\", $mf / $mg}"), int8 x$(awk "BEGIN {printf \"%.1f\", $mq / $mg}"))"
