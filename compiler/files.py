"""Writing files and folders so that nothing already on disk can redirect the write.

``write_atomic`` puts new content at a path by way of an unpredictable sibling opened with
``O_EXCL | O_NOFOLLOW`` (a symlink or file planted at a fixed name such as ``X.tmp`` makes the
open fail instead of being written through), then ``os.replace``: a reader sees the old file
or the new one, never half of it. ``make_dirs`` creates the folders of a store below its root
without following a symbolic link on the way (a link found where a folder should be is an
error, not a detour), each new folder ``0700``.

Standard library only and cheap to import: the compile command and the runner both use it.
"""

from __future__ import annotations

import errno
import os
import stat

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UnsafePath(OSError):
    """A path pipespec will not write through: a symbolic link or a non-folder in the way."""


def special_kind(mode: int) -> str | None:
    """What a non-regular, non-folder file is, in words ("a FIFO", "a symbolic link", ...);
    None for a regular file or a folder."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    for test, what in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a regular file"


def project_root(spec_dir: str, override: str | None = None) -> str:
    """The project a spec belongs to: the nearest folder, from the spec's own up, that holds
    ``.git`` (a repository, a worktree or a submodule), else the spec's folder; or, with
    ``override`` (``targets.T.project_root``: ``.``, ``..``, ``../..``), that folder relative to
    the spec's. ``deps:`` and ``targets.*.output`` stay inside it (``../../.github/workflows/x.yml``
    from a spec two levels down is fine; ``/etc/x`` or climbing above the repository is not),
    and every path a compiled file names is relative to it (``project_path``)."""
    start = d = os.path.abspath(spec_dir)
    if override:
        return os.path.normpath(os.path.join(start, override))
    while True:
        if os.path.lexists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return start
        d = parent


_POLICY_CONFIG: dict[str, str | None] = {}     # spec folder -> its config file (or None), per process


def policy_config(spec_dir: str) -> str | None:
    """The repository config that governs specs in ``spec_dir``: ``pipespec.toml``, else a
    ``pyproject.toml`` holding a ``[tool.pipespec`` table, in the spec's project root (the
    nearest folder up that holds ``.git``, see ``project_root``); None when there is none.
    Only the root's file counts: a team folder cannot add a config of its own that turns the
    repository's rules off, or runs its own code at validate time. Costs a few ``stat`` calls
    and no import (a pyproject.toml is searched as bytes), so a repository without one pays
    nothing for policies (docs/policies.md)."""
    start = os.path.abspath(spec_dir)
    if start not in _POLICY_CONFIG:
        root = project_root(start)
        own, py = os.path.join(root, "pipespec.toml"), os.path.join(root, "pyproject.toml")
        _POLICY_CONFIG[start] = (own if os.path.isfile(own) else
                                 py if os.path.isfile(py) and _has_tool_table(py) else None)
    return _POLICY_CONFIG[start]


def _has_tool_table(path: str) -> bool:
    import re

    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return False
    return re.search(rb"(?m)^[ \t]*\[+[ \t]*tool\.pipespec\b", data) is not None


def project_path(path: str, override: str | None = None) -> str:
    """``path`` (a file, as the user named it from wherever they stood) relative to its
    project's root, with ``/`` separators: the same text from every working directory. The
    folder is resolved (``realpath``) before the root is looked for, so a symlinked working
    directory changes nothing. A name that is no file on disk (``<stdin>``, a test's text)
    is kept as given."""
    if not os.path.isfile(path):
        return path
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    root = project_root(folder, override)
    rel = os.path.relpath(os.path.join(folder, os.path.basename(path)), root)
    return rel.replace(os.sep, "/")


PROJECT_DIR_VAR = "PIPESPEC_PROJECT_DIR"


def on_worker(path: str) -> str:
    """Where a path a compiled file names (relative to the project root) is on a worker: below
    ``$PIPESPEC_PROJECT_DIR`` when that is set, else below the working directory."""
    base = os.environ.get(PROJECT_DIR_VAR)
    if base and not os.path.isabs(path):
        return os.path.join(base, path)
    return path


def is_inside(path: str, root: str) -> bool:
    """``path`` is ``root`` or below it (both absolute and normalised, or both resolved)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def open_exclusive(folder: str, stem: str, mode: int = 0o666) -> tuple[int, str]:
    """A new file in ``folder`` with an unpredictable name: (fd open for writing, path).

    As ``tempfile.mkstemp`` (``O_CREAT | O_EXCL | O_NOFOLLOW``, a few tries on a collision), but
    ``mode`` goes through the umask as for any new file, so the final file's permissions are
    what a plain ``open(path, "w")`` would give.
    """
    import secrets                      # not at the top: validate imports this module for project_root

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    for _ in range(16):
        path = os.path.join(folder, f".{stem}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(path, flags, mode), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary name", folder)


def write_atomic(path: str, data: bytes | str, mode: int = 0o666) -> None:
    """Replace ``path`` with ``data`` atomically, through a fresh ``O_EXCL`` sibling."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = open_exclusive(folder, os.path.basename(path), mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def make_dirs(root: str, path: str, mode: int = 0o700) -> str:
    """Create ``path`` (``root`` or a folder below it) without following symbolic links below
    ``root``; missing folders are made with ``mode``. ``root`` itself may be a link (the user's
    choice, e.g. a store on another disk) and is created, with ``mode``, when missing."""
    root = os.path.abspath(root)
    path = os.path.abspath(path)
    rel = os.path.relpath(path, root)
    if rel == os.curdir:
        parts: list[str] = []
    elif rel == os.pardir or rel.startswith(os.pardir + os.sep):
        raise UnsafePath(errno.EINVAL, f"{path} is not inside {root}")
    else:
        parts = rel.split(os.sep)
    try:
        os.makedirs(root, mode=mode)
    except FileExistsError:
        if not os.path.isdir(root):
            raise UnsafePath(errno.ENOTDIR, f"{root} is not a folder") from None
    cur = root
    for part in parts:
        cur = os.path.join(cur, part)
        try:
            os.mkdir(cur, mode)
            continue
        except FileExistsError:
            pass
        st = os.lstat(cur)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePath(errno.ELOOP, f"{cur} is a symbolic link; pipespec does not follow links "
                                          f"inside its store {root} (remove the link)")
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePath(errno.ENOTDIR, f"{cur} is not a folder")
    return path


# Folders never searched for specs: hidden ones (.git, .venv, .pipespec, .github, ...) and the
# usual trees of other tools' files.
_SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})
_SPEC_SUFFIXES = (".yaml", ".yml")


def is_spec_file(path: str) -> bool:
    """A regular ``.yaml``/``.yml`` file whose top level has a ``pipespec:`` key (the version
    every spec starts with), told from its first 64 KiB without parsing them: other YAML in a
    project (workflows, params files, dvc.yaml) is not a spec."""
    import re

    if not path.endswith(_SPEC_SUFFIXES):
        return False
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            return False           # a FIFO, a device or a link is never opened while searching
        with open(path, "rb") as f:
            head = f.read(65536)
    except OSError:
        return False
    return re.search(rb"(?m)^(?:\xef\xbb\xbf)?[\"']?pipespec[\"']?[ \t]*:", head) is not None


def spec_files(folder: str) -> list[str]:
    """Every spec under ``folder``, recursively, in a stable order (a folder's files, sorted,
    before its sub-folders, sorted); hidden folders and tool trees are skipped, and symbolic
    links to folders are not followed (so a link cycle cannot loop)."""
    found: list[str] = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
        found += [os.path.join(top, f) for f in sorted(files) if is_spec_file(os.path.join(top, f))]
    return found
