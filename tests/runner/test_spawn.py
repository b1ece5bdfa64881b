"""How a step's process is started and killed (``runtime/processes.py``, posix_spawn): the same
for the local runner and ``pipespec exec`` — working directory, PATH lookup, signals, stdin,
no descriptor but 0-2. (Timeouts of both drivers: test_retries_timeouts.py.)"""

import json
import os
import subprocess
import sys


def test_cwd_is_the_spec_folder_when_run_from_elsewhere(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: sp
        steps:
          direct:
            run: ./tool.sh
          shell:
            run: pwd > where.txt
    """, name="pipeline.yaml")
    tool = s.write("tool.sh", "#!/bin/sh\npwd > direct.txt\n")
    tool.chmod(0o755)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = subprocess.run([sys.executable, "-m", "pipespec", "run", str(s.path), "--progress", "plain"],
                       cwd=elsewhere, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "where.txt").read_text().strip() == str(tmp_path)
    assert (tmp_path / "direct.txt").read_text().strip() == str(tmp_path)


def test_command_found_on_the_steps_own_path(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: sp
        steps:
          mine:
            run: mytool
            env: {PATH: "./bin:/usr/bin:/bin"}
    """)
    tool = s.write("bin/mytool", "#!/bin/sh\necho ran > ran.txt\n")
    tool.chmod(0o755)
    s.run(check=0)
    assert (tmp_path / "ran.txt").read_text() == "ran\n"


def test_not_found_and_not_executable(spec, tmp_path):
    s = spec("""
        pipespec: 1
        name: sp
        steps:
          missing:
            run: no-such-command-here
          plain:
            run: ./data.txt
    """)
    s.write("data.txt", "not a program\n")
    r = s.run("--only", "missing", check=1)         # one run each: a failure stops the other
    assert "command not found" in r.stdout
    ex = s.executions()
    assert (ex["missing"]["exit_code"], ex["missing"]["error"]) == (127, "command not found: no-such-command-here")
    s.run("--only", "plain", check=1)
    ex = s.executions()
    assert (ex["plain"]["exit_code"], ex["plain"]["error"]) == (126, "command not executable: ./data.txt")


def test_child_gets_default_sigpipe_devnull_stdin_and_no_extra_fds(spec, tmp_path):
    probe = ("import json, os; json.dump({'fds': sorted(os.listdir('/proc/self/fd')), "
             "'stdin': os.readlink('/proc/self/fd/0')}, open('probe.json', 'w'))")
    s = spec(f"""
        pipespec: 1
        name: sp
        steps:
          pipe:
            run: yes | head -n 1 > yes.txt
          probe:
            run: ["{sys.executable}", "-c", "{probe}"]
    """)
    s.run(check=0)
    ex = s.executions()
    # `yes` dies of SIGPIPE quietly, as in a terminal; with SIGPIPE ignored it says "Broken pipe"
    assert open(ex["pipe"]["stderr_path"]).read() == ""
    got = json.loads((tmp_path / "probe.json").read_text())
    assert got["stdin"] == "/dev/null"
    assert got["fds"] == ["0", "1", "2", "3"]          # 3: the listing's own descriptor


def test_parallel_steps_all_start_in_the_spec_folder_given_a_relative_path(spec, tmp_path):
    # Spawning threads change directory around posix_spawn when the runner's cwd is not the
    # spec's folder; nothing may resolve the (relative) spec path in between.
    steps = "".join(f"  s{i}:\n    run: pwd > where{i}.txt\n" for i in range(12))
    s = spec("pipespec: 1\nname: sp\nsteps:\n" + steps, name="pipeline.yaml")
    r = subprocess.run([sys.executable, "-m", "pipespec", "run", f"{tmp_path.name}/pipeline.yaml",
                        "--progress", "plain", "-j", "4"],
                       cwd=tmp_path.parent, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    for i in range(12):
        assert (tmp_path / f"where{i}.txt").read_text().strip() == str(tmp_path), i


def test_exec_step_gets_no_descriptor_its_worker_inherited(spec, tmp_path):
    """A worker (Airflow, a pod) may hand ``pipespec exec`` open descriptors: the step gets none."""
    probe = "import json, os; json.dump(sorted(os.listdir('/proc/self/fd')), open('fds.json', 'w'))"
    s = spec(f"""
        pipespec: 1
        name: sp
        steps:
          probe:
            run: ["{sys.executable}", "-c", "{probe}"]
    """)
    rd, wr = os.pipe()
    os.set_inheritable(wr, True)
    try:
        r = subprocess.run([sys.executable, "-m", "pipespec", "exec", str(s.path), "--step", "probe"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60, pass_fds=(wr,))
    finally:
        os.close(rd)
        os.close(wr)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "fds.json").read_text()) == ["0", "1", "2", "3"]

