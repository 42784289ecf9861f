"""Small helpers shared by the runtime, the CLI and the spaCy glue."""

from functools import lru_cache
from pathlib import Path
from typing import FrozenSet, Optional, Tuple

ASSETS = Path(__file__).parent / "assets"


def default_model_paths() -> Tuple[Path, Path]:
    """``(options.json, weights.hdf5)`` of the embedded default English biLM.

    Falls back to the tiny test model when the package was built without the default one.
    """
    for name in ("default", "tiny"):
        options, weights = ASSETS / name / "options.json", ASSETS / name / "weights.hdf5"
        if options.is_file() and weights.is_file():
            return options, weights
    raise FileNotFoundError(f"No embedded biLM found under {ASSETS}: reinstall spacy-elmo.")


def warmup_text() -> str:
    """The fixed text run through the biLM at load time for ``state="warm"``."""
    return (ASSETS / "warmup.txt").read_text(encoding="utf8")


@lru_cache(maxsize=1)  # the CPU does not change while the process runs
def cpu_flags() -> Optional[FrozenSet[str]]:
    """The CPU's feature flags from ``/proc/cpuinfo``; None where that cannot be read (not
    Linux) or lists none."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf8", errors="replace")
    except OSError:
        return None
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}
    return frozenset(flags) or None


def cpu_has_bf16_gemm() -> Optional[bool]:
    """Whether this CPU has bfloat16 dot-product instructions (AVX512-BF16 or AMX-BF16):
    True or False from ``/proc/cpuinfo``, None where that cannot be read (not Linux)."""
    flags = cpu_flags()
    return None if flags is None else bool(flags & {"avx512_bf16", "amx_bf16"})


def cpu_has_vnni() -> Optional[bool]:
    """Whether this CPU has int8 dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX-INT8),
    which fbgemm's int8 products need to be fast: True, False, or None where unknown."""
    flags = cpu_flags()
    return None if flags is None else bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
