#!/usr/bin/env bash
# Set up fmnist-spec from a fresh clone: Debian's Fashion-MNIST and Graphviz packages, a
# virtual environment (.venv) with the package and its test extras, and the YAML language
# server the editor tests drive (.tools/, Node.js from Debian where it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Debian packages: the dataset, Graphviz for 'fmnist-spec build --plot', and the NanumGothic font
# that draws Korean class names in pictures ('--class-names ko', docs/workflow.md).
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || ! command -v dot >/dev/null \
        || [ ! -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist graphviz fonts-nanum
fi

# yaml-language-server, the server VS Code's YAML extension runs, pinned, into .tools/ (git-ignored),
# for tests/test_editors.py (docs/editors.md). Node.js and npm come from Debian where missing; if they
# cannot be installed, the editor tests are skipped and everything else still works.
YAML_LANGUAGE_SERVER_VERSION=1.25.0
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm; } \
        || echo "setup.sh: could not install Node.js (nodejs, npm); the editor tests will be skipped" >&2
fi
if command -v node >/dev/null && command -v npm >/dev/null; then
    installed=$(node -p "require('./.tools/node_modules/yaml-language-server/package.json').version" 2>/dev/null || true)
    if [ "$installed" != "$YAML_LANGUAGE_SERVER_VERSION" ]; then
        npm install --prefix .tools --no-save --no-audit --no-fund --loglevel=error \
            "yaml-language-server@$YAML_LANGUAGE_SERVER_VERSION"
    fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
echo "fmnist-spec is installed in .venv: $(.venv/bin/fmnist-spec --help | head -1)"
