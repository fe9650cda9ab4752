"""sha256 of workspace files, remembered by (size, modification time) like git's index.

Every artefact records the sha256 of what it was made from, and every freshness check
recomputes them; feature files and slides are large, so each file is hashed once and its
digest reused while its size and modification time are unchanged. The cache is a plain JSON
file; losing it (or an entry, when two processes save at once) only costs a re-hash.
"""

import hashlib
import json
from pathlib import Path

from steph_cli.workspace import atomic

CACHE = "sha256.json"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Hashes:
    """sha256 of files, cached in ``directory/sha256.json`` by (size, mtime)."""

    def __init__(self, directory: Path) -> None:
        self.file = directory / CACHE
        self.known: dict[str, list[object]] = {}
        self.dirty = False
        try:
            self.known = json.loads(self.file.read_text())
        except (OSError, ValueError):
            self.known = {}

    def __call__(self, path: Path) -> str:
        real = Path(path).resolve()
        st = real.stat()
        key = str(real)
        entry = self.known.get(key)
        if entry is not None and entry[:2] == [st.st_size, st.st_mtime_ns]:
            return str(entry[2])
        sha = file_sha256(real)
        self.known[key] = [st.st_size, st.st_mtime_ns, sha]
        self.dirty = True
        return sha

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            atomic.reclaim(self.file)
            tmp = atomic.temporary(self.file)
            tmp.write_text(json.dumps(self.known))
            tmp.replace(self.file)
        except OSError:  # a read-only workspace hashes again next time
            return
        self.dirty = False
