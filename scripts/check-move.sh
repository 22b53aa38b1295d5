#!/usr/bin/env bash
# Parses and format-checks every Move file with the official formatter
# (prettier + @mysten/prettier-plugin-move, versions pinned in
# contracts/package-lock.json). No Move compiler is available in CI; where the
# Sui CLI is installed, run `sui move test` in contracts/ as well.
#
# Usage: scripts/check-move.sh [--write]
set -euo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  --write) mode=format ;;
  "") mode=check ;;
  *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/../contracts"
if ! command -v npm >/dev/null; then
  echo "npm not found: installing Debian's nodejs and npm" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq nodejs npm
fi
if [ ! -x node_modules/.bin/prettier ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent "$mode"
