#!/usr/bin/env bash
# Make the ELMoForManyLangs reference environment: a separate virtualenv with the
# `elmoformanylangs` package (HIT-SCIR's loader and forward pass, PyPI 0.0.4.post2) on CPU
# torch 2.13.0, the torch spacy-elmo is tested with. It gets its own venv because the package
# declares unpinned torch/h5py/numpy/overrides and imports things (overrides) we do not need;
# tools/make_manylangs_fixtures.py runs in it to write tests/fixtures/manylangs/.
#
#   tools/setup-manylangs-venv.sh [DIR]      # DIR default: ~/.cache/elmo-manylangs-venv
#
# The last line printed is that python's path. Safe to re-run: a finished venv is kept
# (marker file .complete), a half-made one is rebuilt. Needs PyPI and the PyTorch CPU index.
set -euo pipefail

venv_dir="${1:-${HOME}/.cache/elmo-manylangs-venv}"
torch_pin="torch==2.13.0"
cpu_index="https://download.pytorch.org/whl/cpu"
package_pin="elmoformanylangs==0.0.4.post2"

install_packages() {
  # torch first and from the CPU index: a plain `pip install torch` pulls CUDA wheels. The
  # package itself without dependencies, so pip cannot replace that torch.
  "${venv_dir}/bin/pip" install --quiet --extra-index-url "${cpu_index}" "${torch_pin}" 2>&1 \
    | grep -v "^WARNING" >&2 || true
  # overrides 3.x: the 2020 release the package was written against; 7.x checks signatures
  # and refuses its Highway.forward at import.
  "${venv_dir}/bin/pip" install --quiet h5py numpy "overrides==3.1.0"
  "${venv_dir}/bin/pip" install --quiet --no-deps "${package_pin}"
}

check_venv() {
  "${venv_dir}/bin/python" - >&2 <<'PY'
import torch
from elmoformanylangs import Embedder  # noqa: F401
from elmoformanylangs.frontend import Model  # noqa: F401

assert torch.__version__.startswith("2.13"), f"expected torch 2.13, got {torch.__version__}"
print(f"manylangs venv ok: torch {torch.__version__}, elmoformanylangs importable")
PY
}

if [[ ! -f "${venv_dir}/.complete" ]]; then
  rm -rf "${venv_dir}"
  python3 -m venv "${venv_dir}"
  install_packages
  check_venv
  touch "${venv_dir}/.complete"
fi
echo "${venv_dir}/bin/python"
