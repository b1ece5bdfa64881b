"""The Docker daemon of the container tests: our own dockerd (tests/tooling/dockerd.py), its
own data root under the tooling cache (images persist across runs), started once per session
and stopped by its PID at the end; the base image built by debootstrap once. Every test talks
to it through DOCKER_HOST=unix://<our socket> and PIPESPEC_DOCKER=<the docker.io client>, never
to a system daemon. When Docker cannot run, the tests FAIL (CI runs on a machine that can)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from support import ROOT

sys.path.insert(0, str(ROOT))
from tests.tooling.dockerd import BASE_IMAGE, Daemon, DockerError, ensure_base_image  # noqa: E402

from docker_support import BUILD_TIMES, pipespec  # noqa: E402


@pytest.fixture(scope="session")
def docker_daemon():
    d = Daemon()
    try:
        d.start()
    except (DockerError, OSError, subprocess.SubprocessError) as e:
        pytest.fail(f"Docker cannot run here, and the container tests need it: {e}")
    saved = {k: os.environ.get(k) for k in d.env()}
    os.environ.update(d.env())
    try:
        yield d
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        d.stop()


@pytest.fixture(scope="session")
def base_image(docker_daemon) -> str:
    t0 = time.monotonic()
    had = docker_daemon.has_image(BASE_IMAGE)
    try:
        ensure_base_image(docker_daemon)
    except (DockerError, subprocess.SubprocessError) as e:
        pytest.fail(f"the base image {BASE_IMAGE} cannot be built: {e}")
    BUILD_TIMES["base image (debootstrap + import)" + (" [cached]" if had else "")] = time.monotonic() - t0
    return BASE_IMAGE


@pytest.fixture(scope="session")
def churn_image(base_image) -> str:
    """The churn example's step image, built from its spec (cached by its content tag)."""
    spec = str(ROOT / "specs/churn/pipeline.yaml")
    tag = pipespec("image", spec, "--base", base_image, "--print-tag").stdout.strip()
    t0 = time.monotonic()
    r = pipespec("image", spec, "--base", base_image)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == tag
    BUILD_TIMES["churn image"] = time.monotonic() - t0
    return tag


def pytest_terminal_summary(terminalreporter):
    if BUILD_TIMES:
        terminalreporter.write_line("container tests: " + ", ".join(f"{k} {v:.1f} s" for k, v in BUILD_TIMES.items()))
