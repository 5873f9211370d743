#!/usr/bin/env bash
# make demo-local: a local S3 server (SeaweedFS, loopback only) + the API simulator, then the
# examples/local-photos batch: local photos uploaded and signed, results verified and put in the bucket.
set -euo pipefail
NB="${1:-nanobatch}"
PORT="${2:-8765}"
PY="$(dirname "$NB")/python"
export NANOBATCH_HOME="${NANOBATCH_HOME:-.nanobatch}"
mkdir -p -m 700 "$NANOBATCH_HOME"  # a home must be private (an existing one: chmod 700)
S3_DIR="$NANOBATCH_HOME/demo-s3"
ENV_FILE="$NANOBATCH_HOME/demo-s3.env"
rm -f "$ENV_FILE"

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "demo-local: port $PORT is taken; run 'make demo-local DEMO_PORT=<free port>'" >&2
  exit 2
fi

"$PY" -m batch.storage.localserver "$S3_DIR" "$ENV_FILE" >"$NANOBATCH_HOME/demo-s3.log" 2>&1 &
S3_PID=$!
"$NB" simulate --port "$PORT" --latency 2-6 --workers 8 >"$NANOBATCH_HOME/simulator.log" 2>&1 &
SIM_PID=$!
trap 'kill $SIM_PID $S3_PID 2>/dev/null || true; wait $S3_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  [ -s "$ENV_FILE" ] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 $S3_PID 2>/dev/null || { echo "demo-local: the S3 server did not start (see $NANOBATCH_HOME/demo-s3.log)" >&2; exit 1; }
  sleep 0.2
done
# shellcheck disable=SC1090
source "$ENV_FILE"
export PHOTOS_BUCKET="$NANOBATCH_DEMO_BUCKET"
echo "demo-local: S3 server on $AWS_ENDPOINT_URL (bucket $PHOTOS_BUCKET), simulator on http://127.0.0.1:$PORT"

export RUNCOMFY_API_BASE="http://127.0.0.1:$PORT"
export RUNCOMFY_API_TOKEN="demo-token"
status=0
"$NB" run examples/local-photos/jobs.yaml || status=$?
echo "demo-local: objects in s3://$PHOTOS_BUCKET/local-photos/:"
"$PY" - <<'PYEOF'
import os
from batch.storage.store import open_store
bucket = open_store(f"s3://{os.environ['PHOTOS_BUCKET']}")
for key in bucket.keys("local-photos/"):
    print(f"  {key}")
PYEOF
exit $status
