#!/usr/bin/env bash
# Fresh machine -> venv with pinned deps -> Debian chromium for the browser tests -> the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
# Debian packages: chromium for the browser tests, Fashion-MNIST (MIT) for the similar-cases / corrections demo.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
if [ ${#missing[@]} -gt 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null \
    || echo "could not install ${missing[*]}; the tests that need them will fail" >&2
fi
export OMP_NUM_THREADS=1 GRADIO_ANALYTICS_ENABLED=False HF_HUB_DISABLE_TELEMETRY=1
exec .venv/bin/python -m pytest "$@"
