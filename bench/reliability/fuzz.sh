#!/usr/bin/env bash
# Fuzz every route of a live ragqa server (fake engine) with the schemathesis CLI, with a valid API key.
#
#   bash bench/reliability/fuzz.sh [MAX_EXAMPLES=300] [MAX_TIME_S=600]
#
# Checks: not_a_server_error (no 5xx) and ragqa_error_contract (tests/reliability/schemathesis_hooks.py: every error
# is JSON {"error": {"type", "message"}}). Exit status is schemathesis's (0 = no failure).
set -euo pipefail
cd "$(dirname "$0")/../.."
MAX_EXAMPLES="${1:-300}"
MAX_TIME="${2:-600}"
PY=.venv/bin/python
KEY="fuzz-key-$RANDOM$RANDOM"
DATA="$(mktemp -d)"
PORT="$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
LOG="$DATA/server.log"
RAGQA_DATA_DIR="$DATA/data" RAGQA_API_KEYS="$KEY" RAGQA_RATE_LIMIT_PER_MINUTE=0 RAGQA_MAX_UPLOAD_BYTES=200000 \
  $PY -m uvicorn --factory tests.reliability.fake_app:create --host 127.0.0.1 --port "$PORT" --log-level warning \
  >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
set +e
SCHEMATHESIS_HOOKS=tests.reliability.schemathesis_hooks PYTHONPATH=. .venv/bin/schemathesis run \
  "http://127.0.0.1:$PORT/openapi.json" \
  -H "Authorization: Bearer $KEY" \
  --checks not_a_server_error,ragqa_error_contract \
  --phases examples,coverage,fuzzing \
  --max-examples "$MAX_EXAMPLES" \
  --max-time "$MAX_TIME" \
  --workers 1 \
  --continue-on-failure
STATUS=$?
set -e
echo "server 5xx lines in its log: $(grep -c ' status=5' "$LOG" || true)"
if grep -q "$KEY" "$LOG"; then echo "the API key appears in the server log"; STATUS=1; fi
exit $STATUS
