"""The unfinished-run folder of ``embed``: ``OUTPUT.partial/`` beside OUTPUT.

It holds ``fingerprint.json`` (what the run computes: model, options; not the number of
processes, which does not change the result) and one ``chunk-NNNNNNNNNNNN.h5`` per saved
piece of work, named after its first line (from 0). A piece is a run of whole read-ahead
windows inside one chunk of lines: a chunk is saved when it is done, and also whenever
``save_seconds`` have passed, so a killed run loses at most that much work. Re-running the
same command continues the run; the input is checked piece by piece against the digests
stored in the files.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from ..errors import ElmoInputError, Errors

#: Bumped when the chunk files change meaning.
LAYOUT_VERSION = 2
FINGERPRINT = "fingerprint.json"


def partial_dir(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def model_digest(module: torch.nn.Module) -> str:
    """sha256 of a module's parameters and buffers (names, shapes, dtypes, values): the
    same weights give the same digest whatever file or device they came from."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}\0".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class PartialRun:
    """The chunk files of one run and the settings they were computed with."""

    def __init__(self, output: Path, fingerprint: Dict[str, Any]):
        self.dir = partial_dir(output)
        self.fingerprint = {"layout": LAYOUT_VERSION, **fingerprint}

    def chunk_path(self, first: int) -> Path:
        """The file of the saved piece that starts at line ``first`` (from 0)."""
        return self.dir / f"chunk-{first:012d}.h5"

    def open(self, *, discard: bool, is_main: bool) -> None:
        """Create the folder or check the one there. ``discard``: start over if its
        settings differ (--overwrite). Only the main process writes; call
        :meth:`check_opened` on the others after a barrier."""
        if is_main:
            found = self._read_fingerprint()
            if found is not None and found != self.fingerprint:
                if not discard:
                    raise ElmoInputError(
                        Errors.E506.format(path=self.dir, differences=self._diff(found))
                    )
                self.remove()
            self.dir.mkdir(exist_ok=True)
            for stale in self.dir.glob("*.tmp-*"):  # left by a killed process
                stale.unlink(missing_ok=True)
            if found != self.fingerprint:
                _write_json_atomic(self.dir / FINGERPRINT, self.fingerprint)

    def check_opened(self) -> None:
        """For the other processes: the main one has created a matching folder."""
        if self._read_fingerprint() != self.fingerprint:
            raise ElmoInputError(
                Errors.E511.format(path=self.dir, error="its fingerprint is not this run's")
            )

    def saved(self) -> Dict[int, int]:
        """``{first line: number of lines}`` of every saved piece."""
        from .writer import read_chunk_info

        saved = {}
        for path in self.dir.glob("chunk-*.h5"):
            try:
                first, n_lines, _ = read_chunk_info(path)
            except FileNotFoundError:  # the folder went away: the caller says so (E513)
                raise
            except (OSError, KeyError) as e:  # only written by hand: saved files are whole
                error = f"'{path.name}' cannot be read: {e}"
                raise ElmoInputError(Errors.E511.format(path=self.dir, error=error)) from None
            saved[first] = n_lines
        return dict(sorted(saved.items()))

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _read_fingerprint(self) -> Optional[Dict[str, Any]]:
        path = self.dir / FINGERPRINT
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf8"))
        except (OSError, ValueError) as e:
            raise ElmoInputError(Errors.E511.format(path=self.dir, error=e)) from None

    def _diff(self, found: Dict[str, Any]) -> str:
        keys = sorted(set(found) | set(self.fingerprint))
        changed = [k for k in keys if found.get(k) != self.fingerprint.get(k)]
        return ", ".join(
            f"{k}: {found.get(k)!r} then, {self.fingerprint.get(k)!r} now" for k in changed
        )


def _write_json_atomic(path: Path, data: Dict[str, Any]) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf8")
    os.replace(tmp, path)
