#!/usr/bin/env bash
# Installs what stream-app needs on a fresh machine, idempotently: pnpm, Node's
# headers for the native addons (node-gyp cannot download them here), Debian's
# chromium (the live page's test renders it in a real headless browser), and
# the workspace dependencies. With --with-kafka also the Debian libraries the
# Kafka client (librdkafka) compiles against, and the client itself.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=12.4.2
with_kafka=0
[ "${1:-}" = "--with-kafka" ] && with_kafka=1

say() { printf 'setup: %s\n' "$*" >&2; }

# apt-get as root, through sudo otherwise (a CI runner's user); never asks questions.
apt_get() {
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get "$@"
  else
    sudo DEBIAN_FRONTEND=noninteractive apt-get "$@"
  fi
}
apt_updated=0
apt_install() {
  say "installing $*"
  if [ "$apt_updated" = 0 ]; then
    apt_get update -qq >/dev/null
    apt_updated=1
  fi
  apt_get install -y -qq "$@" >/dev/null
}

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  say "installing pnpm $PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1
fi

if [ -z "${npm_config_nodedir:-}" ]; then
  npm_config_nodedir="$(bash scripts/node-headers.sh)"
  export npm_config_nodedir
fi

# The live page's test renders it in a real headless browser.
if ! command -v chromium >/dev/null 2>&1; then apt_install chromium; fi

if [ "$with_kafka" = 1 ]; then
  missing=()
  for p in zlib1g-dev libssl-dev libsasl2-dev libzstd-dev liblz4-dev libcurl4-openssl-dev pkg-config; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
  # Build librdkafka from the client's bundled sources, linked to the system libraries.
  export CKJS_LINKING=dynamic
fi

if [ "$with_kafka" = 1 ]; then
  pnpm install --frozen-lockfile --reporter=silent
else
  # The embedded broker needs no native Kafka client: leave the kafka package out.
  pnpm install --frozen-lockfile --reporter=silent --filter '!@stream-app/kafka'
fi

if [ "$with_kafka" = 1 ] && [ -d packages/kafka ]; then
  if ! (cd packages/kafka && node -e "require('@confluentinc/kafka-javascript')" >/dev/null 2>&1); then
    say "building the Kafka client (about two minutes)"
    pnpm --filter @stream-app/kafka rebuild @confluentinc/kafka-javascript
  fi
fi
