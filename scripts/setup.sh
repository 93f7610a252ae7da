#!/usr/bin/env bash
# Set up fmnist-spec from a fresh clone: Debian's Fashion-MNIST and Graphviz packages and a
# virtual environment (.venv) with the package and its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: the dataset, and Graphviz for 'fmnist-spec build --plot'.
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || ! command -v dot >/dev/null; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist graphviz
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
echo "fmnist-spec is installed in .venv: $(.venv/bin/fmnist-spec --help | head -1)"
