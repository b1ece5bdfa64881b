"""The content-addressed object store: ``.pipespec/objects/sha256/ab/cdef...``.

Artifacts enter by hard link (nothing large is copied), leave by hard link into a run's
output folder, and are made read-only so that no step can change a stored object through a
link. A ``dir`` artifact is stored as its files plus a manifest object (``dir:<digest>``).
Across filesystems a link falls back to a reflink (``FICLONE``), then to a copy.

``FileHasher`` keeps git's index trick: a file whose (size, mtime_ns, inode, ctime_ns) match
the recorded ones keeps its digest without being read, unless its mtime falls in the same
second as (or after) the moment it was hashed, where a later write could hide ("racy").
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
import time

from ..runtime.execute import move_into_place

DIR_PREFIX = "dir:"


def file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def link_or_copy(src: str, dst: str) -> None:
    """Hard link ``src`` at ``dst`` (which must not exist); reflink or copy across devices."""
    try:
        os.link(src, dst)
        return
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
    try:
        import fcntl

        with open(src, "rb") as s, open(dst, "wb") as d:
            fcntl.ioctl(d.fileno(), 0x40049409, s.fileno())      # FICLONE
        shutil.copymode(src, dst)
        return
    except (OSError, ImportError):
        pass
    shutil.copy2(src, dst)


class ObjectStore:
    def __init__(self, store_dir: str) -> None:
        self.root = os.path.join(store_dir, "objects", "sha256")

    def path(self, digest: str) -> str:
        d = digest.removeprefix(DIR_PREFIX)
        return os.path.join(self.root, d[:2], d[2:])

    def has(self, digest: str) -> bool:
        if not os.path.exists(self.path(digest)):
            return False
        if digest.startswith(DIR_PREFIX):
            return all(os.path.exists(self.path(h)) for h, _ in self._manifest(digest).values())
        return True

    # ---------------------------------------------------------------- in

    def ingest(self, path: str) -> str:
        """Store the artifact at ``path`` (file or folder) and return its digest."""
        if os.path.isdir(path):
            return self._ingest_dir(path)
        return self._ingest_file(path)

    def _ingest_file(self, path: str) -> str:
        digest = file_digest(path)
        obj = self.path(digest)
        if not os.path.exists(obj):
            os.makedirs(os.path.dirname(obj), exist_ok=True)
            tmp = f"{obj}.tmp-{secrets.token_hex(4)}"
            link_or_copy(path, tmp)
            os.chmod(tmp, stat.S_IMODE(os.stat(tmp).st_mode) & ~0o222)
            os.replace(tmp, obj)                  # atomic; a concurrent run storing it too is fine
        if os.stat(obj).st_ino != os.stat(path).st_ino:
            self._replace_with_link(obj, path)    # one copy on disk, whoever stored it first
        return digest

    def _replace_with_link(self, obj: str, path: str) -> None:
        tmp = f"{path}.lnk-{secrets.token_hex(4)}"
        try:
            os.link(obj, tmp)
            os.replace(tmp, path)
        except OSError:
            pass

    def _ingest_dir(self, path: str) -> str:
        entries: dict[str, list] = {}
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            rel = os.path.relpath(dirpath, path)
            if not filenames and not dirnames:
                entries[rel + "/"] = ["", 0]
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                key = os.path.normpath(os.path.join(rel, fn))
                if os.path.islink(full):
                    entries[key] = ["link:" + os.readlink(full), 0]
                    continue
                entries[key] = [self._ingest_file(full), 1 if os.stat(full).st_mode & 0o111 else 0]
        text = json.dumps(entries, sort_keys=True, separators=(",", ":")).encode()
        digest = hashlib.sha256(text).hexdigest()
        obj = self.path(digest)
        if not os.path.exists(obj):
            os.makedirs(os.path.dirname(obj), exist_ok=True)
            tmp = f"{obj}.tmp-{secrets.token_hex(4)}"
            with open(tmp, "wb") as f:
                f.write(text)
            os.chmod(tmp, 0o444)
            os.replace(tmp, obj)
        return DIR_PREFIX + digest

    # ---------------------------------------------------------------- out

    def _manifest(self, digest: str) -> dict[str, list]:
        with open(self.path(digest), "rb") as f:
            return json.loads(f.read())

    def restore(self, digest: str, dst: str) -> None:
        """Put the artifact ``digest`` at ``dst`` (replacing what is there), by links."""
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = f"{dst}.restore-{secrets.token_hex(4)}"
        if digest.startswith(DIR_PREFIX):
            os.mkdir(tmp)
            for rel, (h, _) in self._manifest(digest).items():
                target = os.path.join(tmp, rel)
                if rel.endswith("/"):
                    os.makedirs(target, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if h.startswith("link:"):
                    os.symlink(h[5:], target)
                else:
                    link_or_copy(self.path(h), target)
            move_into_place(tmp, dst)
            return
        obj = self.path(digest)
        try:
            if os.stat(obj).st_ino == os.lstat(dst).st_ino:
                return                            # already that object (a resume): nothing to do
        except FileNotFoundError:
            pass
        link_or_copy(obj, tmp)
        if os.path.isdir(dst) and not os.path.islink(dst):
            shutil.rmtree(dst)
        os.replace(tmp, dst)
        # renaming a link onto another link of the same file does nothing (rename(2)), leaving
        # tmp: when dst became a link of the object meanwhile, tmp is still there
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


class FileHasher:
    """Digests of source files (deps:, call: modules) with a stat-keyed cache in the records."""

    def __init__(self, records) -> None:
        self.records = records
        self.memo: dict[str, str] = {}

    def digest(self, path: str) -> str:
        path = os.path.abspath(path)
        if path in self.memo:
            return self.memo[path]
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self.memo[path] = "missing"
            return "missing"
        if stat.S_ISDIR(st.st_mode):
            h = hashlib.sha256()
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
                for fn in sorted(filenames):
                    full = os.path.join(dirpath, fn)
                    h.update(f"{os.path.relpath(full, path)}\0{self.digest(full)}\n".encode())
            self.memo[path] = d = "dir:" + h.hexdigest()
            return d
        row = self.records.stat_entry(path)
        if (row is not None and row["size"] == st.st_size and row["mtime_ns"] == st.st_mtime_ns
                and row["ino"] == st.st_ino and row["ctime_ns"] == st.st_ctime_ns
                and st.st_mtime_ns // 1_000_000_000 < row["checked_ns"] // 1_000_000_000):
            d = row["digest"]
        else:
            checked = time.time_ns()
            d = file_digest(path)
            self.records.put_stat(path, st, d, checked)
        self.memo[path] = d
        return d
