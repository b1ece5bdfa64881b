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

from ..files import UnsafePath, make_dirs, special_kind
from ..runtime.outputs import move_into_place

DIR_PREFIX = "dir:"


def file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


_LINK_FAILS = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES)


def link_or_copy(src: str, dst: str) -> None:
    """Hard link ``src`` at ``dst`` (which must not exist); reflink or copy across devices.
    A symbolic link at ``src`` is linked as itself, never followed; ``dst`` is created with
    ``O_EXCL``, so nothing planted there is written through."""
    try:
        os.link(src, dst, follow_symlinks=False)
        return
    except OSError as e:
        if e.errno not in _LINK_FAILS:
            raise
    with open(src, "rb") as s:
        _copy_into(s, dst)
    shutil.copystat(src, dst)


def _copy_into(s, dst: str) -> None:
    """Reflink (``FICLONE``) or copy the open file ``s`` to the new file ``dst``."""
    with open(dst, "xb") as d:
        try:
            import fcntl

            fcntl.ioctl(d.fileno(), 0x40049409, s.fileno())      # FICLONE
            return
        except (OSError, ImportError):
            s.seek(0)
        shutil.copyfileobj(s, d)


def _open_regular(path: str):
    """``path`` opened for reading if it is a regular file; never follows a symbolic link and
    never blocks (a FIFO opened for reading would wait for a writer forever)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnsafePath(errno.ELOOP, f"{path} is a symbolic link; an artifact is regular files") from None
        raise
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        f.close()
        raise UnsafePath(errno.EINVAL, f"{path} is not a regular file")
    return f


class ObjectStore:
    def __init__(self, store_dir: str) -> None:
        self.store_dir = os.path.abspath(store_dir)
        self.root = os.path.join(self.store_dir, "objects", "sha256")

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
        """Store the artifact at ``path`` (file or folder) and return its digest. Only regular
        files and folders are stored: a symbolic link or a special file is an ``UnsafePath``
        (the executor refuses them first, naming the output; this is the store's own guard)."""
        if stat.S_ISDIR(os.lstat(path).st_mode):
            return self._ingest_dir(path)
        return self._ingest_file(path)

    def _ingest_file(self, path: str) -> str:
        with _open_regular(path) as f:
            st = os.fstat(f.fileno())
            digest = hashlib.file_digest(f, "sha256").hexdigest()
            obj = self.path(digest)
            if not os.path.exists(obj):
                make_dirs(self.store_dir, os.path.dirname(obj))
                tmp = f"{obj}.tmp-{secrets.token_hex(4)}"
                try:
                    os.link(path, tmp, follow_symlinks=False)
                    if os.lstat(tmp).st_ino != st.st_ino:        # swapped since it was hashed
                        os.unlink(tmp)
                        raise UnsafePath(errno.EAGAIN, f"{path} changed while it was being stored")
                except OSError as e:
                    if e.errno not in _LINK_FAILS:
                        raise
                    f.seek(0)
                    _copy_into(f, tmp)
                    shutil.copymode(path, tmp)
                os.chmod(tmp, stat.S_IMODE(os.lstat(tmp).st_mode) & ~0o222)
                os.replace(tmp, obj)              # atomic; a concurrent run storing it too is fine
        if os.stat(obj).st_ino != st.st_ino:
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
            for d in dirnames:
                if os.path.islink(os.path.join(dirpath, d)):      # os.walk lists it, never enters it
                    raise UnsafePath(errno.ELOOP, f"{os.path.join(dirpath, d)} is a symbolic link; "
                                                  "an artifact is regular files and folders")
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                key = os.path.normpath(os.path.join(rel, fn))
                entries[key] = [self._ingest_file(full), 1 if os.lstat(full).st_mode & 0o111 else 0]
        text = json.dumps(entries, sort_keys=True, separators=(",", ":")).encode()
        digest = hashlib.sha256(text).hexdigest()
        obj = self.path(digest)
        if not os.path.exists(obj):
            make_dirs(self.store_dir, os.path.dirname(obj))
            tmp = f"{obj}.tmp-{secrets.token_hex(4)}"
            with open(tmp, "xb") as f:
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
        make_dirs(self.store_dir, os.path.dirname(dst))
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


class UnsafeDep(Exception):
    """A file to hash that is outside the project, not a regular file or folder, or one too many."""


class FileHasher:
    """Digests of source files (deps:, call: modules) with a stat-keyed cache in the records.

    With ``root`` (the project), every path hashed must resolve inside it, links included,
    and be a regular file or a folder: a FIFO or a device is refused without being opened
    (reading one would never end). ``budget`` bounds the entries visited (``spend``)."""

    def __init__(self, records, root: str | None = None) -> None:
        self.records = records
        self.root = os.path.realpath(root) if root else None
        self.budget: int | None = None
        self.limit = 0
        self.memo: dict[str, str] = {}

    def spend(self, where: str) -> None:
        if self.budget is not None:
            self.budget -= 1
            if self.budget < 0:
                raise UnsafeDep(f"'{where}': deps reach more than {self.limit} files and folders; "
                                "name the files that matter (a narrower glob)")

    def _checked(self, path: str, shown: str) -> tuple[str, os.stat_result | None]:
        """(resolved path, its stat) after the project and file-type checks; stat None when missing."""
        real = os.path.realpath(path) if self.root else path
        if self.root and not (real == self.root or real.startswith(self.root.rstrip(os.sep) + os.sep)):
            raise UnsafeDep(f"'{shown}' is, through a symbolic link, {real}: outside the project "
                            f"({self.root}); deps are files of the project")
        try:
            st = os.stat(real)
        except FileNotFoundError:
            return real, None
        what = special_kind(st.st_mode)
        if what:
            raise UnsafeDep(f"'{shown}' is {what}; deps are regular files and folders")
        return real, st

    def digest(self, path: str, shown: str | None = None) -> str:
        path = os.path.abspath(path)
        if path in self.memo:
            return self.memo[path]
        shown = shown or path
        real, st = self._checked(path, shown)
        if st is None:
            self.memo[path] = "missing"
            return "missing"
        if stat.S_ISDIR(st.st_mode):
            h = hashlib.sha256()
            for dirpath, dirnames, filenames in os.walk(real):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
                for fn in sorted(filenames):
                    full = os.path.join(dirpath, fn)
                    rel = os.path.relpath(full, real)
                    self.spend(shown)
                    h.update(f"{rel}\0{self.digest(full, os.path.join(shown, rel))}\n".encode())
            self.memo[path] = d = "dir:" + h.hexdigest()
            return d
        self.spend(shown)
        row = self.records.stat_entry(real)
        if (row is not None and row["size"] == st.st_size and row["mtime_ns"] == st.st_mtime_ns
                and row["ino"] == st.st_ino and row["ctime_ns"] == st.st_ctime_ns
                and st.st_mtime_ns // 1_000_000_000 < row["checked_ns"] // 1_000_000_000):
            d = row["digest"]
        else:
            checked = time.time_ns()
            with open(real, "rb", opener=_nonblocking) as f:
                fst = os.fstat(f.fileno())
                if not stat.S_ISREG(fst.st_mode):           # swapped since the stat
                    raise UnsafeDep(f"'{shown}' is {special_kind(fst.st_mode)}; deps are regular files and folders")
                d = hashlib.file_digest(f, "sha256").hexdigest()
            self.records.put_stat(real, fst, d, checked)
        self.memo[path] = d
        return d


def _nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC)
