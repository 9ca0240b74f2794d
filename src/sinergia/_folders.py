"""Replace a folder as a whole: write into a sibling temporary folder, then swap it in with renames."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from sinergia.errors import InputError, UsageError


def replace_folder(directory: Path | str, marker: str, write: Callable[[Path], None], what: str = "model") -> Path:
    """Call ``write(tmp)`` to fill a new folder, then put it at ``directory`` in place of the old one.

    ``directory`` may be missing, empty, or a folder this code wrote before (it holds ``marker``); anything else
    is refused, so a wrong ``--out`` never deletes a user's folder. Readers see the old folder or the new one.
    """
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not (target.is_dir() and (not any(target.iterdir()) or (target / marker).exists())):
        raise UsageError(f"{target} exists and is not a Sinergia {what} folder; choose another --out")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tmp.chmod(0o755)
        write(tmp)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"{target}: cannot write the {what} ({error.strerror})") from None
    return target
