#!/usr/bin/env bash
# `make run`: the whole platform on one machine with demo data.
#
# On embedded defaults (nothing set): SQLite in $VAR_DIR (default ./var) and Celery on kombu's
# filesystem transport (folders under $VAR_DIR/broker), so Python alone is enough. Set
# DATABASE_URL / CELERY_BROKER_URL / REDIS_URL to run it on PostgreSQL and Redis instead.
#
# It migrates, loads the demo data (idempotent), then starts the web server (runserver on
# 127.0.0.1:$PORT), a Celery worker with beat embedded (-B) and the demo shop (examples/shop/, a
# merchant's own server on 127.0.0.1:$SHOP_PORT, default 8001). Ctrl-C, or the web server
# stopping, stops the worker and the shop too.
set -euo pipefail

# Resolve VAR_DIR against the caller's directory before moving to the project root.
if [[ -n "${VAR_DIR:-}" ]]; then
  mkdir -p "$VAR_DIR"
  VAR_DIR="$(cd "$VAR_DIR" && pwd)"
fi
cd "$(dirname "$0")/.."
export VAR_DIR="${VAR_DIR:-$PWD/var}"
mkdir -p "$VAR_DIR"

# The project's virtualenv (made by `make install`), unless RUN_PYTHON names another interpreter.
if [[ -n "${RUN_PYTHON:-}" ]]; then
  PY="$RUN_PYTHON"
elif [[ -x .venv/bin/python ]]; then
  PY=.venv/bin/python
else
  PY="$(command -v python3)"
fi
HOST=127.0.0.1
PORT="${PORT:-8000}"
BASE_URL="http://$HOST:$PORT"
# Checkout links in the merchant API's answers point at this server.
export PLATFORM_URL="${PLATFORM_URL:-$BASE_URL}"
export SHOP_PORT="${SHOP_PORT:-8001}"
SHOP_URL="http://$HOST:$SHOP_PORT"
export DEMO_SHOP_CONFIG="$VAR_DIR/demo-shop.json"
export DEMO_ADMIN_PASSWORD="${DEMO_ADMIN_PASSWORD:-demo-admin-only}"
DEMO_ADMIN_PHONE="+381600000001"

echo "== database: ${DATABASE_URL:+\$DATABASE_URL}${DATABASE_URL:-SQLite $VAR_DIR/db.sqlite3}"
echo "== broker:   ${CELERY_BROKER_URL:+\$CELERY_BROKER_URL}${CELERY_BROKER_URL:-filesystem $VAR_DIR/broker}"
"$PY" manage.py migrate --noinput
"$PY" manage.py seed_demo
"$PY" manage.py seed_demo_shop  # the demo merchant; its API key and secret go to $DEMO_SHOP_CONFIG
"$PY" manage.py seed_demo_billers  # Vodovod (water) and RTS pretplata (broadcasting) at /bills/
"$PY" manage.py seed_demo_activity  # two weeks of demo activity for the dashboard; seals the journal
# The demo staff user's authenticator key (DEMO ONLY, public: seed_demo's DEMO_TOTP_KEY in base32).
DEMO_TOTP_URI="otpauth://totp/PayWallet%20back%20office:%2B381600000001?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=PayWallet%20back%20office"

WEB_PID=""
WORKER_PID=""
SHOP_PID=""
stop() {
  trap - EXIT INT TERM
  local pid
  for pid in $WEB_PID $WORKER_PID $SHOP_PID; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  # Celery's warm shutdown lets running tasks finish (a few seconds on the filesystem broker);
  # give it a while, then insist.
  for _ in $(seq 300); do
    local alive=""
    for pid in $WEB_PID $WORKER_PID $SHOP_PID; do
      kill -0 "$pid" 2>/dev/null && alive=1
    done
    [[ -z "$alive" ]] && break
    sleep 0.1
  done
  for pid in $WEB_PID $WORKER_PID $SHOP_PID; do
    kill -0 "$pid" 2>/dev/null && echo "== $pid did not stop in time: killing it" && kill -KILL "$pid"
  done
  wait 2>/dev/null || true
  echo "== stopped"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One worker alone: no neighbours to sync with (mingle), watch (gossip) or tell (heartbeat);
# skipping them starts and stops it seconds sooner on the filesystem broker.
"$PY" -m celery -A config worker -B --loglevel=INFO --concurrency="${CELERY_CONCURRENCY:-1}" \
  --hostname="demo@%h" --without-mingle --without-gossip --without-heartbeat &
WORKER_PID=$!
"$PY" manage.py runserver --noreload "$HOST:$PORT" &
WEB_PID=$!
# The demo shop: a standalone program (no Django) that uses only the public merchant API.
"$PY" examples/shop/shop.py &
SHOP_PID=$!

# Wait for /healthz (runserver starts in a second or two), then say where to go.
status() {
  "$PY" - "$1" <<'EOF'
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
except Exception:
    print(0)
EOF
}
health=0
for _ in $(seq 60); do
  kill -0 "$WEB_PID" 2>/dev/null || break
  health="$(status "$BASE_URL/healthz")"
  [[ "$health" == 200 ]] && break
  sleep 0.5
done

root="$(status "$BASE_URL/")"
shop=0
for _ in $(seq 20); do
  kill -0 "$SHOP_PID" 2>/dev/null || break
  shop="$(status "$SHOP_URL/")"
  [[ "$shop" == 200 ]] && break
  sleep 0.25
done

echo
echo "================================================================================"
if [[ "$health" == 200 ]]; then
  echo " The platform is running (web, Celery worker and beat). Ctrl-C stops all of it."
else
  echo " WARNING: $BASE_URL/healthz answered ${health/#0/nothing} (see the log above)."
fi
if [[ "$root" == 200 || "$root" == 302 ]]; then
  echo "   portal        $BASE_URL/"
fi
echo "   admin         $BASE_URL/admin/"
echo "   API docs      $BASE_URL/api/docs/   (OpenAPI schema: $BASE_URL/api/schema/)"
echo "   health        $BASE_URL/healthz"
echo "   SMS outbox    $BASE_URL/dev/sms/   (where the demo's PINs arrive)"
if [[ "$shop" == 200 ]]; then
  echo "   demo shop     $SHOP_URL/   <- start here: buy, pay with a customer's wallet and PIN"
else
  echo " WARNING: the demo shop at $SHOP_URL/ is not answering (SHOP_PORT busy? see the log above);"
  echo "   the platform runs without it."
fi
echo
echo " Admin login (DEMO ONLY, never use these anywhere real):"
echo "   phone $DEMO_ADMIN_PHONE   password $DEMO_ADMIN_PASSWORD   + authenticator (TOTP) code:"
echo "   current code: $PY manage.py demo_totp"
echo "   or add to an authenticator app: $DEMO_TOTP_URI"
echo "   dashboard     $BASE_URL/admin/reports/"
echo " Demo customers: +381600000002, +381600000003, +381600000004 / demo-customer-only"
echo " Demo merchant (Demo shop d.o.o., pages at $BASE_URL/merchant/): +381600000009 / demo-merchant-only"
echo "================================================================================"
echo

# Whichever stops first (normally the web server), the trap stops the others. (The shop stopping
# alone stops nothing: the platform does not need it.)
set +e
wait -n "$WEB_PID" "$WORKER_PID"
code=$?
if ! kill -0 "$WEB_PID" 2>/dev/null; then
  echo "== the web server stopped (exit $code); stopping the worker and the shop"
else
  echo "== the Celery worker stopped (exit $code); stopping the web server and the shop"
fi
exit "$code"
