#!/usr/bin/env bash
# Makes sure every system part the test suite needs is installed and running.
# As root it installs what is missing with apt and starts what is not running; otherwise it
# stops with the exact command to run. Tests never skip for a missing service: they fail.
set -euo pipefail

# Debian packages the suite needs, and the command that proves each is there.
declare -A PACKAGES=(
  [openssh-server]=/usr/sbin/sshd          # real sshd for the SSH helper tests
  [postgresql]=/usr/bin/pg_ctlcluster       # real PostgreSQL for the store tests
  [postgresql-client]=/usr/bin/pg_dump      # the secrets-at-rest test dumps the database
  [redis-server]=/usr/bin/redis-server      # real Redis for the scale-out tests
  [redis-tools]=/usr/bin/redis-cli
  [snmp]=/usr/bin/snmptrap                  # real SNMP traps for the trap receiver tests
  [snmptrapd]=/usr/sbin/snmptrapd           # the reference receiver of bench/traps.py
  [prometheus]=/usr/bin/prometheus          # a real Prometheus scraping /metrics
  [prometheus-alertmanager]=/usr/bin/prometheus-alertmanager  # the Alertmanager exporter test
  [rabbitmq-server]=/usr/sbin/rabbitmq-server  # the scale-out tests' second broker
)

PG_URL_HOST=${STORFLEET_TEST_PG_HOST:-127.0.0.1}
PG_PORT=${STORFLEET_TEST_PG_PORT:-5432}

missing=()
for pkg in "${!PACKAGES[@]}"; do
  [ -x "${PACKAGES[$pkg]}" ] || missing+=("$pkg")
done

as_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; run this as root first:" >&2
    echo "  $*" >&2
    exit 1
  fi
  "$@"
}

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages; run as root:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! pg_isready -q -h "$PG_URL_HOST" -p "$PG_PORT"; then
  echo "deps: starting PostgreSQL"
  cluster_version=$(ls /etc/postgresql | sort -V | tail -1)
  if [ -z "$cluster_version" ]; then
    echo "deps: no PostgreSQL cluster in /etc/postgresql" >&2
    exit 1
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start
  for _ in $(seq 30); do pg_isready -q -h "$PG_URL_HOST" -p "$PG_PORT" && break; sleep 1; done
  pg_isready -h "$PG_URL_HOST" -p "$PG_PORT"
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "deps: starting Redis"
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null
fi

# RabbitMQ answers on 5672 once its node has booted (several seconds).
amqp_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if ! amqp_up; then
  echo "deps: starting RabbitMQ"
  as_root rabbitmq-server -detached
  for _ in $(seq 60); do amqp_up && break; sleep 1; done
  amqp_up || { echo "deps: RabbitMQ did not start on 127.0.0.1:5672" >&2; exit 1; }
fi

echo "deps: ok"
