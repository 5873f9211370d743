#!/usr/bin/env bash
# make demo: start the simulator, run jobs.example.yaml on the embedded defaults, leave the images on disk.
set -euo pipefail
NB="${1:-nanobatch}"
PORT="${2:-8765}"
export NANOBATCH_HOME="${NANOBATCH_HOME:-.nanobatch}"
mkdir -p -m 700 "$NANOBATCH_HOME"  # a home must be private (an existing one: chmod 700)

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "demo: port $PORT is taken; run 'make demo DEMO_PORT=<free port>'" >&2
  exit 2
fi

"$NB" simulate --port "$PORT" --latency 2-6 --workers 8 >"$NANOBATCH_HOME/simulator.log" 2>&1 &
SIM_PID=$!
trap 'kill $SIM_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
echo "demo: simulator of the RunComfy API on http://127.0.0.1:$PORT (log: $NANOBATCH_HOME/simulator.log)"

export RUNCOMFY_API_BASE="http://127.0.0.1:$PORT"
export RUNCOMFY_API_TOKEN="demo-token"
export SAMPLES_BASE="http://127.0.0.1:$PORT/samples"
"$NB" run jobs.example.yaml
