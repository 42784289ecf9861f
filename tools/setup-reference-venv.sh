#!/usr/bin/env bash
# Make the reference environment that `python -m spacy_elmo bench` compares against: a separate
# virtualenv with AllenNLP 2.10.1 (the last AllenNLP release) on CPU torch 2.13.0, the torch
# that spacy-elmo is tested with. AllenNLP gets its own venv because its pins (spaCy, transformers,
# torchvision) conflict with ours; the bench talks to it through a worker process only.
#
#   tools/setup-reference-venv.sh [DIR]      # DIR default: ~/.cache/elmo-reference-venv
#
# `bench` finds DIR/bin/python at the default place by itself; for another DIR pass
# `--reference-python DIR/bin/python` or set SPACY_ELMO_REFERENCE_PYTHON. The last line printed
# is that python's path. Safe to re-run: a finished venv is kept (marker file .complete), a
# half-made one is rebuilt. Needs PyPI and the PyTorch CPU wheel index; takes a few minutes.
set -euo pipefail

venv_dir="${1:-${HOME}/.cache/elmo-reference-venv}"
torch_pin="torch==2.13.0"
cpu_index="https://download.pytorch.org/whl/cpu"

pip_quiet() {
  # pip's dependency-conflict warnings are expected here (AllenNLP's pins are old): keep errors.
  "${venv_dir}/bin/pip" install --quiet "$@" 2>&1 | grep -v '^WARNING' >&2 || true
}

install_torch() {
  # A CPU build: a plain `pip install torch` on Linux pulls several GB of CUDA wheels. Where
  # the default index already serves the CPU build, the extra index changes nothing.
  pip_quiet --extra-index-url "${cpu_index}" "${torch_pin}"
}

install_allennlp() {
  # Without dependencies: AllenNLP 2.10.1 pins torch < 1.13. What its ELMo code imports is
  # installed next, with versions that work on a current torch.
  pip_quiet h5py numpy spacy
  pip_quiet --no-deps allennlp==2.10.1
  pip_quiet "huggingface_hub==0.25.2" "transformers==4.40.2" more-itertools fairscale \
    cached_path lmdb dill base58 "${torch_pin}"
}

stub_torchvision() {
  # allennlp.modules imports torchvision for its vision models; ELMo never calls it, and the
  # real package would pull in another torch. A module that answers every attribute suffices.
  local site
  site="$("${venv_dir}/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  mkdir -p "${site}/torchvision/ops"
  cat > "${site}/torchvision/__init__.py" <<'PY'
"""Placeholder for torchvision: AllenNLP imports it, its ELMo modules never use it."""
import types as _types


def __getattr__(name):
    return _types.SimpleNamespace()
PY
  for module in __init__ boxes; do
    printf 'def __getattr__(name):\n    return None\n' > "${site}/torchvision/ops/${module}.py"
  done
}

check_venv() {
  "${venv_dir}/bin/python" - >&2 <<'PY'
import torch
from allennlp.modules.elmo import Elmo, _ElmoBiLm, batch_to_ids  # noqa: F401

assert torch.__version__.startswith("2.13"), f"expected torch 2.13, got {torch.__version__}"
print(f"reference venv ok: torch {torch.__version__}, AllenNLP ELMo importable")
PY
}

if [[ ! -f "${venv_dir}/.complete" ]]; then
  rm -rf "${venv_dir}"
  python3 -m venv "${venv_dir}"
  install_torch
  install_allennlp
  stub_torchvision
  check_venv
  touch "${venv_dir}/.complete"
fi
echo "${venv_dir}/bin/python"
