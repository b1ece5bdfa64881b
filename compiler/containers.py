"""Step images: the build context and Dockerfile of a spec's image, its content tag, and the
Docker client (``pipespec image``, ``pipespec compile --built-image``, ``pipespec run --containers``).

The image holds, on top of a base image with Python 3.11+ (venv and pip): a virtual
environment at ``/opt/pipespec`` with pipespec at the version that made the image (a wheel
made from the running pipespec's own files, so no package index needs to have it), the kfp
SDK at the version the Kubeflow backend targets (installed without its dependencies, as
Kubeflow's lightweight components install it), the packages of ``requirements.txt`` beside
the spec, and the spec's folder at its path below ``/project`` (``PIPESPEC_PROJECT_DIR``), as
the compiled Kubeflow and Airflow files name it. docs/containers.md.

The tag is ``pipespec/<pipeline name>:<16 hex>``: the SHA-256 of the Dockerfile and of every
file of the build context but the build-only pip configuration, so an unchanged spec, code,
requirements, base image name and pipespec give the same tag.

No value of the user becomes Dockerfile syntax: the base image must be an image reference
(letters, digits, ``._-/:@``), the folder in the image is written as a JSON string in the
JSON-array form of ``COPY`` and must hold no ``$`` (which Docker would substitute) nor control
character; every other line is ours.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field

from . import __version__
from .diagnostics import Diagnostic
from .files import project_root

DEFAULT_BASE = "python:3.11-slim"
PROJECT_DIR = "/project"
VENV = "/opt/pipespec"
KFP_VERSION = "2.17.3"                    # backends/kubeflow.py SDK_VERSION (checked by a test)
LABEL = "org.pipespec.version"
MAX_FILES = 5000                          # the spec's folder copied into the image
MAX_BYTES = 200 * 1024 * 1024
_REFERENCE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*"
                        r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")
_UNSAFE_PATH = re.compile(r"[\x00-\x1f\x7f$\\]")
_SKIP = {"__pycache__", ".git", ".pipespec", ".venv", "node_modules"}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class ImageError(Exception):
    """A problem that stops making the image: its diagnostic."""

    def __init__(self, code: str, message: str, help: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.help = code, message, help

    def diagnostic(self, span) -> Diagnostic:
        return Diagnostic(self.code, self.message, span, self.help)


@dataclass
class Context:
    """A build context in memory: relative path -> bytes; ``Dockerfile`` among them."""
    tag: str
    base: str
    files: dict[str, bytes]
    warnings: list[tuple[str, str, str | None]] = field(default_factory=list)   # (code, message, help)

    def write(self, folder: str) -> None:
        """Into ``folder`` (created; files of an earlier context there are replaced)."""
        os.makedirs(folder, exist_ok=True)
        for old in ("code", "build", "wheels"):
            shutil.rmtree(os.path.join(folder, old), ignore_errors=True)
        for rel, data in sorted(self.files.items()):
            path = os.path.join(folder, *rel.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)


def check_reference(ref: str, what: str) -> str:
    if not isinstance(ref, str) or len(ref) > 255 or not _REFERENCE.match(ref):
        raise ImageError("E611", f"{what} {json.dumps(ref)} is not an image reference",
                         "an image reference is [registry[:port]/]name[:tag][@sha256:digest], lower-case name, "
                         "no spaces")
    return ref


def repository(pipeline_name: str) -> str:
    """``pipespec/<name>``, the name made a valid lower-case repository component."""
    part = re.sub(r"[^a-z0-9]+", "-", pipeline_name.lower()).strip("-") or "pipeline"
    return f"pipespec/{part[:100]}"


# -------------------------------------------------------------------- pipespec as a wheel

_PACKAGES = ("pipespec", "pipespec.backends", "pipespec.schemas")
_DATA = (".py", ".lark", ".json", ".typed")


def _package_files() -> dict[str, bytes]:
    import importlib

    out: dict[str, bytes] = {}
    for name in _PACKAGES:
        mod = importlib.import_module(name)
        root = os.path.dirname(os.path.abspath(mod.__file__))
        prefix = name.replace(".", "/")
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP and not d.startswith("."))
            rel_dir = os.path.relpath(dirpath, root)
            for fn in sorted(filenames):
                if not (fn.endswith(_DATA) or os.path.basename(dirpath) == "templates"):
                    continue
                arc = prefix + "/" + ("" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/") + fn
                if arc in out:
                    continue
                with open(os.path.join(dirpath, fn), "rb") as f:
                    out[arc] = f.read()
    if "pipespec/runtime/bootstrap.py" not in out:
        raise ImageError("E614", "the files of the running pipespec cannot be found to put into the image")
    return out


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def pipespec_wheel() -> tuple[str, bytes]:
    """(file name, bytes) of a wheel of the running pipespec: its own files and metadata, in a
    fixed order with fixed times, so the same pipespec gives the same bytes."""
    from importlib import metadata

    files = _package_files()
    dist_info = f"pipespec-{__version__}.dist-info"
    try:                  # the installed metadata (a .dist-info, or the .egg-info of a checkout)
        dist = metadata.distribution("pipespec")
        requires = list(dist.requires or ())
        entry_points = dist.read_text("entry_points.txt") or ""
    except metadata.PackageNotFoundError:
        requires, entry_points = [], ""
    extras = sorted({m.group(1) for r in requires for m in [re.search(r'extra == "([^"]+)"', r)] if m})
    meta = (f"Metadata-Version: 2.1\nName: pipespec\nVersion: {__version__}\nRequires-Python: >=3.11\n"
            + "".join(f"Provides-Extra: {e}\n" for e in extras)
            + "".join(f"Requires-Dist: {r}\n" for r in requires))
    if not entry_points:
        entry_points = "[console_scripts]\npipespec = pipespec.cli:main\n"
    files[f"{dist_info}/METADATA"] = meta.encode()
    files[f"{dist_info}/entry_points.txt"] = entry_points.encode()
    files[f"{dist_info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: pipespec image\nRoot-Is-Purelib: true\n"
                                   b"Tag: py3-none-any\n")
    record = "".join(f"{arc},{_record_hash(data)},{len(data)}\n" for arc, data in sorted(files.items()))
    files[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for arc in sorted(files):
            info = zipfile.ZipInfo(arc, _ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, files[arc])
    return f"pipespec-{__version__}-py3-none-any.whl", buf.getvalue()


# -------------------------------------------------------------------- the context

def _spec_folder_files(folder: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    total = 0
    real_root = os.path.realpath(folder)
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP and not d.startswith(".")
                             and not os.path.islink(os.path.join(dirpath, d)))
        for fn in sorted(filenames):
            if fn.startswith(".") or fn.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(dirpath, fn)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            if os.path.islink(path) and not os.path.realpath(path).startswith(real_root + os.sep):
                continue                                 # a link out of the folder stays out
            if _UNSAFE_PATH.search(rel):
                raise ImageError("E610", f"the file {json.dumps(rel)} of the spec's folder has a name the image "
                                         "cannot be given safely (a control character, '$' or '\\')",
                                 "rename it, or move it out of the spec's folder")
            try:
                with open(path, "rb") as f:
                    data = f.read(MAX_BYTES + 1)
            except OSError as e:
                raise ImageError("E614", f"{rel} of the spec's folder cannot be read: {e.strerror or e}") from None
            total += len(data)
            out[rel] = data
            if len(out) > MAX_FILES or total > MAX_BYTES:
                raise ImageError("E614", f"the spec's folder holds more than {MAX_FILES} files or "
                                         f"{MAX_BYTES // 2**20} MiB: too much to copy into a step image",
                                 "keep data out of the spec's folder (or in a dot-folder, which is not copied)")
    return out


def folder_in_image(spec_path: str, project: str | None = None) -> str:
    """Where the spec's folder is in the image: its path below the project root, under /project."""
    folder = os.path.realpath(os.path.dirname(os.path.abspath(spec_path)))
    root = os.path.realpath(project_root(folder, project))
    rel = os.path.relpath(folder, root).replace(os.sep, "/")
    if rel.startswith(".."):
        rel = os.path.basename(folder)
    dest = PROJECT_DIR if rel == "." else f"{PROJECT_DIR}/{rel}"
    if _UNSAFE_PATH.search(dest) or "\n" in dest:
        raise ImageError("E610", f"the spec's folder {json.dumps(rel)} cannot be named in a Dockerfile "
                                 "(a control character, '$' or '\\' in its path)",
                         "move the spec to a folder whose path has none of them")
    return dest


def _pip_config() -> dict[str, bytes]:
    """The host's pip configuration and CA bundle, for pip inside the build (build-only files:
    not part of the tag): the index is reached through the same route as on the host."""
    out: dict[str, bytes] = {}
    conf = os.environ.get("PIP_CONFIG_FILE") or "/etc/pip.conf"
    cert = os.environ.get("PIP_CERT")
    try:
        with open(conf, "rb") as f:
            out["build/pip.conf"] = f.read()
        if not cert:
            m = re.search(rb"^\s*cert\s*=\s*(\S+)", out["build/pip.conf"], re.M)
            cert = m.group(1).decode() if m else None
    except OSError:
        pass
    for path in (cert, "/etc/ssl/certs/ca-certificates.crt"):
        if path:
            try:
                with open(path, "rb") as f:
                    out["build/ca.crt"] = f.read()
                break
            except OSError:
                continue
    out.setdefault("build/pip.conf", b"")
    out.setdefault("build/ca.crt", b"")
    return out


_RUN_PIP = (f"PIP_CONFIG_FILE=/tmp/pipespec-build/pip.conf PIP_DISABLE_PIP_VERSION_CHECK=1 "
            f"PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore")


def dockerfile(base: str, wheel: str, dest: str, has_requirements: bool, kfp: bool) -> str:
    cert = ('if [ -s /tmp/pipespec-build/ca.crt ]; then export PIP_CERT=/tmp/pipespec-build/ca.crt; fi'
            ' && ')
    lines = [
        f"# pipespec {__version__}: the step image of one spec (pipespec image; docs/containers.md)",
        f"FROM {base}",
        f'LABEL {LABEL}="{__version__}"',
        'COPY ["build/", "/tmp/pipespec-build/"]',
        f"RUN python3 -m venv {VENV}",
        f"ENV PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "
        f"PIPESPEC_PROJECT_DIR={PROJECT_DIR} PYTHONDONTWRITEBYTECODE=1",
    ]
    if has_requirements:                  # first: the slowest layer changes least often
        lines += ['COPY ["requirements.txt", "/tmp/pipespec-build/requirements.txt"]',
                  f"RUN {cert}{_RUN_PIP} {VENV}/bin/python -m pip install --quiet "
                  "-r /tmp/pipespec-build/requirements.txt"]
    lines += ['COPY ["wheels/", "/tmp/pipespec-wheels/"]',
              f"RUN {cert}{_RUN_PIP} {VENV}/bin/python -m pip install --quiet /tmp/pipespec-wheels/{wheel}"
              + (f" && {_RUN_PIP} {VENV}/bin/python -m pip install --quiet --no-deps kfp=={KFP_VERSION}"
                 if kfp else "")
              + " && rm -rf /tmp/pipespec-build /tmp/pipespec-wheels",
              f"COPY {json.dumps(['code/', dest + '/'])}",
              f"WORKDIR {PROJECT_DIR}",
              ""]
    return "\n".join(lines)


def context(spec_path: str, pipeline_name: str, base: str | None = None, kfp: bool = True,
            project: str | None = None) -> Context:
    """The build context of the spec's image, and its tag (no Docker needed)."""
    base = check_reference(base or DEFAULT_BASE, "the base image")
    dest = folder_in_image(spec_path, project)
    code = _spec_folder_files(os.path.dirname(os.path.abspath(spec_path)))
    wheel, wheel_bytes = pipespec_wheel()
    req = code.get("requirements.txt")
    warnings = []
    if req is None:
        warnings.append(("W610", "no requirements.txt beside the spec: the image has pipespec"
                                 + (" and kfp" if kfp else "") + " and nothing else the step code may import",
                         "list the packages the steps import in requirements.txt beside the spec"))
    files = {f"code/{rel}": data for rel, data in code.items()}
    files[f"wheels/{wheel}"] = wheel_bytes
    if req is not None:
        files["requirements.txt"] = req
    files["Dockerfile"] = dockerfile(base, wheel, dest, req is not None, kfp).encode()
    h = hashlib.sha256(b"pipespec-image 1\0")
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    tag = f"{repository(pipeline_name)}:{h.hexdigest()[:16]}"
    files.update(_pip_config())
    return Context(tag, base, files, warnings)


# -------------------------------------------------------------------- the Docker client

def docker_argv() -> list[str] | None:
    """The docker client: ``$PIPESPEC_DOCKER`` (a path), else ``docker`` on PATH."""
    exe = os.environ.get("PIPESPEC_DOCKER") or shutil.which("docker")
    return [exe] if exe and os.access(exe, os.X_OK) else None


def docker_ready(timeout: float = 20.0) -> list[str]:
    """The docker client, when it answers and its daemon does; else ``ImageError`` E612."""
    argv = docker_argv()
    if argv is None:
        raise ImageError("E612", "Docker is not available: no docker client (set PIPESPEC_DOCKER or put docker on "
                                 "PATH)", "install Docker, or run without containers")
    try:
        r = subprocess.run([*argv, "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ImageError("E612", f"Docker is not available: {argv[0]} version: {e}") from None
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["no answer"])[-1][:300]
        raise ImageError("E612", f"Docker is not available: the daemon does not answer ({why})",
                         "start the Docker daemon, or set DOCKER_HOST to one that runs")
    return argv


def image_present(docker: list[str], ref: str, timeout: float = 30.0) -> dict | None:
    """The image's labels when the daemon has ``ref`` ({} for none), else None."""
    r = subprocess.run([*docker, "image", "inspect", "--format", "{{json .Config.Labels}}", ref],
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout or "null") or {}
    except ValueError:
        return {}


def build(docker: list[str], folder: str, tag: str, timeout: float, log) -> None:
    """``docker build --network host`` of the context in ``folder``; ImageError E613 on failure."""
    argv = [*docker, "build", "--network", "host", "--tag", tag, "--file", os.path.join(folder, "Dockerfile"),
            folder]
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ImageError("E613", f"docker build of {tag} did not finish within {timeout:g} s") from None
    except OSError as e:
        raise ImageError("E612", f"Docker is not available: {e}") from None
    if r.returncode != 0:
        tail = "\n".join(r.stdout.strip().splitlines()[-15:])
        raise ImageError("E613", f"docker build of {tag} failed (exit {r.returncode}):\n{tail}",
                         "the base image must have python3 (3.11+) with venv and pip; pip needs the package index")
    if log is not None:
        log.write(r.stdout)
