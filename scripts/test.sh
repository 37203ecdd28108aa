#!/usr/bin/env bash
# The test command: installs everything, then type-checks the whole workspace,
# runs the linter and formatter check, and runs every test (the Kafka tests
# start a real broker from scripts/kafka.sh unless KAFKA_BROKERS is set).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-kafka
echo '== typecheck' >&2
pnpm exec tsc -p tsconfig.json
echo '== lint and format' >&2
pnpm exec biome check .
echo '== tests' >&2
mkdir -p .cache
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile=.cache/vitest-results.json "$@" || status=$?
# One plain summary line that any CI reader understands.
node -e '
  const r = JSON.parse(require("fs").readFileSync(".cache/vitest-results.json", "utf8"))
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`)
' || true
exit "$status"
