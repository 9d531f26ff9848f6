#!/usr/bin/env bash
# Checks the Prometheus files with promtool: the scrape config's syntax, the alert rules, and the
# rules' unit tests (alerts.test.yml). Usage: infra/prometheus/check.sh [path/to/promtool]
# (.ci/run passes the one infra/services.sh promtool provides.)
set -euo pipefail
cd "$(dirname "$0")"
promtool="${1:-promtool}"
"$promtool" check config --syntax-only prometheus.yml
"$promtool" check rules alerts.yml
"$promtool" test rules alerts.test.yml
