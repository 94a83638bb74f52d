"""One error for a file that cannot be decoded, whatever the decoding library raised.

Example:
    >>> from pathlib import Path
    >>> try:
    ...     with decoding_errors(Path("x.lhe"), "LHE", "reading"):
    ...         raise ValueError("bad")
    ... except Exception as error:
    ...     print(error)
    x.lhe: corrupt or truncated LHE file while reading (ValueError: bad); re-copy or regenerate it
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from surrotag.errors import CorruptFileError, SurrotagError

__all__ = ["decoding_errors"]


@contextmanager
def decoding_errors(path: Path, kind: str, doing: str) -> Iterator[None]:
    """Turn any exception but surrotag's own into one :class:`CorruptFileError` line.

    Args:
        path: The file being read.
        kind: Its format, as the user knows it (``LHE``, ``HepMC``).
        doing: What was being done (``reading events``), for the message.
    """
    try:
        yield
    except SurrotagError:
        raise
    except Exception as error:
        detail = str(error).splitlines()[0] if str(error) else "no detail"
        raise CorruptFileError(
            f"{path}: corrupt or truncated {kind} file while {doing} "
            f"({type(error).__name__}: {detail}); re-copy or regenerate it"
        ) from error
