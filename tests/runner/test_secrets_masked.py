"""Secrets never show in what pipespec writes, and reach only the steps that declare them
(issue 11, item 12). Real runs of the CLI, in a subprocess with the secret in its environment."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

SECRET = "S3CR3T-v4lue-9f2c"

SPEC = """\
pipespec: 1
name: sec
secrets:
  token: {env: APP_TOKEN}
steps:
  other:
    run: |
      echo "other sees [${APP_TOKEN:-unset}]"
      env | grep -c S3CR3T || true
  uses:
    env:
      T: ${{ secrets.token }}
    run: |
      echo "out: $T"
      echo "err: $T" >&2
      printf 'v=%s\\n' "$T" >> "$PIPESPEC_OUTPUT"
    outputs:
      v: int
"""


def _cli(args, cwd, env_extra, timeout=120):
    env = {k: v for k, v in os.environ.items() if k != "APP_TOKEN"}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "pipespec", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _store_bytes(store: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in store.rglob("*") if p.is_file()}


@pytest.fixture
def ran(tmp_path):
    (tmp_path / "p.yaml").write_text(SPEC, encoding="utf-8")
    res = _cli(["run", "p.yaml", "-j", "1"], tmp_path, {"APP_TOKEN": SECRET})
    return tmp_path, res


def test_secret_is_masked_in_logs_errors_terminal_and_store(ran):
    tmp_path, res = ran
    assert res.returncode == 1, res.stdout + res.stderr          # v is not an int
    assert SECRET not in res.stdout + res.stderr
    assert "***" in res.stdout + res.stderr                         # the error names the masked value
    store = tmp_path / ".pipespec"
    files = _store_bytes(store)
    logs = {k: v for k, v in files.items() if k.startswith("logs/")}
    assert any(b"out: ***" in v for v in logs.values()), logs
    assert any(b"err: ***" in v for v in logs.values()), logs
    leaked = [k for k, v in files.items() if SECRET.encode() in v]
    assert not leaked, leaked
    shown = _cli(["runs", "show", "latest", "--store", str(store)], tmp_path, {})
    assert shown.returncode == 0, shown.stderr
    assert SECRET not in shown.stdout + shown.stderr
    assert "***" in shown.stdout


def test_step_that_does_not_declare_the_secret_does_not_inherit_it(ran):
    tmp_path, _ = ran
    out = (tmp_path / ".pipespec" / "logs").rglob("other.out")
    text = next(out).read_text()
    assert "other sees [unset]" in text, text
    assert text.splitlines()[1] == "0", text


def test_exec_masks_the_parse_error_and_strips_the_secret(tmp_path):
    (tmp_path / "p.yaml").write_text(SPEC, encoding="utf-8")
    res = _cli(["exec", "p.yaml", "--step", "uses", "--result-json", "r.json"], tmp_path, {"APP_TOKEN": SECRET})
    assert res.returncode == 1
    assert SECRET not in res.stderr and "***" in res.stderr, res.stderr
    assert SECRET not in (tmp_path / "r.json").read_text()
    res = _cli(["exec", "p.yaml", "--step", "other"], tmp_path, {"APP_TOKEN": SECRET})
    assert res.returncode == 0 and "other sees [unset]" in res.stdout, res.stdout + res.stderr


def test_a_multiline_secret_is_masked_line_by_line(tmp_path):
    spec = SPEC.replace('echo "out: $T"', 'echo "out: $T"; printf "%s\\n" "$T" | tail -n 1')
    (tmp_path / "p.yaml").write_text(spec, encoding="utf-8")
    value = "line-one-abc\nline-two-def"
    res = _cli(["run", "p.yaml", "-j", "1"], tmp_path, {"APP_TOKEN": value})
    files = _store_bytes(tmp_path / ".pipespec")
    for part in value.split("\n"):
        leaked = [k for k, v in files.items() if part.encode() in v]
        assert not leaked, (part, leaked)
        assert part not in res.stdout + res.stderr


# -- the masker itself: a secret split across chunks is still masked ------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from pipespec.runtime.masking import Masker  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["ab", "S3CR3T", "x\n", "S3", "CR3T", "***", "é"]), max_size=30),
       st.lists(st.integers(1, 7), min_size=1, max_size=10))
def test_masking_a_stream_in_any_chunks_equals_masking_it_whole(parts, cuts):
    m = Masker(["S3CR3T", "ab\nS3C"])
    data = "".join(parts).encode()
    whole = m.text(data.decode()).encode()
    out, i, k = b"", 0, 0
    while i < len(data):
        n = cuts[k % len(cuts)]
        out += m.feed(data[i:i + n])
        i, k = i + n, k + 1
    out += m.feed(b"", final=True)
    assert b"S3CR3T" not in out and out == whole


def test_mask_file_in_place(tmp_path):
    p = tmp_path / "log"
    p.write_bytes(b"a S3CR3T b\n" * 300_000)       # more than one 1 MiB chunk
    Masker(["S3CR3T"]).mask_file(str(p))
    assert p.read_bytes() == b"a *** b\n" * 300_000


def test_short_values_are_not_masked():
    assert Masker(["ab", ""]).text("ab cd") == "ab cd"


def test_a_secret_returned_as_an_output_value_fails_the_step_and_is_not_stored(tmp_path):
    spec = SPEC.replace("v: int", "v: string")
    (tmp_path / "p.yaml").write_text(spec, encoding="utf-8")
    res = _cli(["run", "p.yaml", "-j", "1"], tmp_path, {"APP_TOKEN": SECRET})
    assert res.returncode == 1
    assert "holds the value of a secret" in res.stdout + res.stderr, res.stdout + res.stderr
    leaked = [k for k, v in _store_bytes(tmp_path / ".pipespec").items() if SECRET.encode() in v]
    assert not leaked, leaked
    res = _cli(["exec", "p.yaml", "--step", "uses", "--result-json", "r.json"], tmp_path, {"APP_TOKEN": SECRET})
    assert res.returncode == 1 and SECRET not in (tmp_path / "r.json").read_text()
