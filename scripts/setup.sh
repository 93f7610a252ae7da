#!/usr/bin/env bash
# Set up fmnist-spec from a fresh clone: Debian's Fashion-MNIST and Graphviz packages, a
# virtual environment (.venv) with the package and its test extras, and the YAML language
# server the editor tests drive (.tools/, Node.js from Debian where it is missing).
#
#   bash scripts/setup.sh          TensorFlow's CPU build (tensorflow-cpu on x86-64); what CI runs
#   bash scripts/setup.sh --gpu    the same, then TensorFlow's CUDA build with NVIDIA's libraries
#                                  (Linux x86-64, an NVIDIA driver; docs/gpu.md)
set -euo pipefail
cd "$(dirname "$0")/.."

GPU=0
for argument in "$@"; do
    case "$argument" in
        --gpu) GPU=1 ;;
        -h|--help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "setup.sh: unknown argument '$argument'" >&2
           echo "  hint: bash scripts/setup.sh [--gpu]" >&2
           exit 2 ;;
    esac
done
if [ "$GPU" = 1 ] && { [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ]; }; then
    echo "setup.sh: --gpu: TensorFlow's CUDA build is published for Linux x86-64 only, this is $(uname -s) $(uname -m)" >&2
    echo "  hint: run bash scripts/setup.sh without --gpu" >&2
    exit 2
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# Debian packages: the dataset, Graphviz for 'fmnist-spec build --plot', and the NanumGothic font
# that draws Korean class names in pictures ('--class-names ko', docs/workflow.md).
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || ! command -v dot >/dev/null \
        || [ ! -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist graphviz fonts-nanum
fi

# PostgreSQL's server programs (initdb, pg_ctl) for the tests of 'fmnist-spec search --storage
# postgresql://...': each test starts its own server in a temporary folder on a loopback port and stops it.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql; } \
        || echo "setup.sh: could not install PostgreSQL (postgresql); its search tests will be skipped" >&2
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
if [ "$GPU" = 1 ]; then
    # TensorFlow's install guide (https://www.tensorflow.org/install/pip, "Linux"): pip install
    # 'tensorflow[and-cuda]' (the extra 'gpu' in pyproject.toml). On x86-64 fmnist-spec also depends on
    # tensorflow-cpu, and both wheels write the same tensorflow/ directory (14,857 shared files in 2.21):
    # whichever pip wrote last is on disk, and uninstalling either one deletes the shared files, leaving
    # 'import tensorflow' broken (measured with 2.21.0; tensorflow/text#416, rlworkgroup/garage#251:
    # only one of the TensorFlow packages may be installed). So remove tensorflow-cpu, then rewrite the
    # tensorflow wheel's files (from pip's cache) so that the CUDA build is what is left.
    .venv/bin/python -m pip install -q -e '.[gpu,test]'
    if .venv/bin/python -m pip show -q tensorflow-cpu 2>/dev/null; then
        .venv/bin/python -m pip uninstall -q -y tensorflow-cpu
    fi
    tensorflow_version=$(.venv/bin/python -m pip show tensorflow | sed -n 's/^Version: //p')
    .venv/bin/python -m pip install -q --force-reinstall --no-deps "tensorflow==$tensorflow_version"
    .venv/bin/python - <<'PYTHON'
import sys

from fmnist_spec.to_keras.compat import import_tensorflow_quietly

import_tensorflow_quietly()
import tensorflow as tf

from fmnist_spec.running.device import SystemProbe, describe, device_text, gpu_warning

if not tf.test.is_built_with_cuda():
    sys.exit("setup.sh: --gpu: TensorFlow in .venv is still its CPU build\n"
             "  hint: .venv/bin/pip uninstall -y tensorflow tensorflow-cpu, then bash scripts/setup.sh --gpu")
probe, build = SystemProbe(), tf.sysconfig.get_build_info()
print(f"TensorFlow {tf.__version__}: CUDA build (CUDA {build.get('cuda_version')}, "
      f"cuDNN {build.get('cudnn_version')}); fmnist-spec train runs on {device_text(describe(probe))}")
if not probe.tensorflow_gpus():
    why = gpu_warning(probe) or "TensorFlow sees no GPU, and this machine shows no NVIDIA GPU (no NVIDIA driver)"
    print(f"setup.sh: --gpu: warning: {why}", file=sys.stderr)
PYTHON
fi
echo "fmnist-spec is installed in .venv: $(.venv/bin/fmnist-spec --help | head -1)"
