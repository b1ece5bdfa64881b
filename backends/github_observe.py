"""``notify:``/``metrics:``/``tracking:`` in a GitHub Actions workflow: two jobs at the run's
boundary, both running ``pipespec observe`` (docs/targets/github.md).

- ``pipespec__start`` (with ``tracking:``): opens the MLflow parent run; its id is the job's
  output ``parent``, which every step job needs and hands its ``pipespec exec`` as
  ``PIPESPEC_TRACKING_PARENT``.
- ``pipespec__finish``: ``if: always()``, needing every job; the run's status and each job's
  result reach it as ``toJSON(needs)`` in ``env:`` (never in the script), the channels'
  secrets as ``secrets.*`` in ``env:``; it ends the parent run, pushes the metrics and sends
  the alerts. It exits 0 whatever an integration did, so it never turns the run red.

Step names never hold ``__``: no step's job can take these ids.
"""

from __future__ import annotations

from .github_options import GITHUB_SECRETS
from .github_pins import action_step

START = "pipespec__start"
FINISH = "pipespec__finish"
PARENT = "${{ needs.pipespec__start.outputs.parent }}"


def add_jobs(builder, jobs: dict, run_status: str, root_tmp: str, secret_name) -> dict:
    """``jobs`` with the boundary jobs added (and the step jobs wired to the start job)."""
    from pipespec.integrations.targets import carried

    pipe = builder.pipe
    obs = pipe.observe
    if obs is None or not carried(pipe, "github"):
        return jobs
    cfg = builder.cfg
    steps = {s.name for s in pipe.all_steps}
    out: dict = {}
    if obs.tracking:
        run = (f'parent=$({cfg.pipespec} observe start "$PIPESPEC_SPEC" --run-id "$PIPESPEC_RUN_ID" --target github)\n'
               'echo "parent=$parent" >> "$GITHUB_OUTPUT"\n')
        out[START] = _job(cfg, {"outputs": {"parent": "${{ steps.start.outputs.parent }}"}},
                          [{"name": "open the MLflow parent run", "id": "start", "run": run}])
        for name, job in jobs.items():
            if name in steps:
                jobs[name] = job = {"needs": [START, *job.get("needs", [])],
                                    **{k: v for k, v in job.items() if k != "needs"}}
                for st in job["steps"]:
                    if st.get("id") == "exec":
                        st["env"] = {**st.get("env", {}), "PIPESPEC_TRACKING_PARENT": PARENT}
    out.update(jobs)
    env = {"PIPESPEC_NEEDS": "${{ toJSON(needs) }}", "PIPESPEC_RUN_STATUS": "${{ " + run_status + " }}"}
    if obs.tracking:
        env["PIPESPEC_TRACKING_PARENT"] = PARENT
    names = [c.secret for c in obs.channels] + ([obs.pushgateway_secret] if obs.pushgateway_secret else [])
    for name in dict.fromkeys(names):
        sec = next(s for s in pipe.secrets if s.name == name)
        ref = GITHUB_SECRETS.ref(sec)
        if secret_name.match(ref) and secret_name.match(sec.env):
            env[sec.env] = "${{ secrets." + ref + " }}"
        else:
            builder.b.unsupported(sec.span, f"secret '{name}': '{ref}' / '{sec.env}' is not a valid GitHub "
                                  "secret / environment variable name")
    root = '"$PIPESPEC_ARTIFACT_ROOT"' if cfg.artifact_root else '"$RUNNER_TEMP/pipespec"'
    args = [f'{cfg.pipespec} observe finish "$PIPESPEC_SPEC"', '--run-id "$PIPESPEC_RUN_ID"', "--target github",
            '--status "$PIPESPEC_RUN_STATUS"', f"--artifact-root {root}", '--steps-json "$PIPESPEC_NEEDS"']
    if pipe.params:
        args.append('--params-json "$PIPESPEC_PARAMS"')
    downloads = []
    if not cfg.artifact_root:
        # each step's results, for the metrics and the when: conditions; a step that did not
        # succeed uploaded nothing, which is no error here
        for st in pipe.all_steps:
            if st.outputs and not st.is_finally:
                d = action_step("actions/download-artifact", {
                    "pattern": f"pipespec--{st.name}--*", "path": f"{root_tmp}/{st.name}", "merge-multiple": True},
                    f"download outputs of {st.name}")
                d["continue-on-error"] = True
                downloads.append(d)
    finish = {"name": "metrics, alerts, the end of the MLflow run", "env": env, "run": " \\\n  ".join(args) + "\n"}
    out[FINISH] = _job(cfg, {"needs": list(out), "if": "${{ always() }}"}, downloads + [finish])
    return out


def _job(cfg, head: dict, steps: list) -> dict:
    job = dict(head)
    job["runs-on"] = cfg.runs_on
    job["timeout-minutes"] = 15 + (10 if cfg.setup else 0)
    if cfg.setup:
        job["permissions"] = {"contents": "read"}
        setup = [action_step("actions/checkout", {"persist-credentials": False}, "check out the spec"),
                 action_step("actions/setup-python", {"python-version": cfg.python, "cache": "pip",
                                                      "cache-dependency-path": cfg.requirements or cfg.spec_path},
                             "set up Python"),
                 {"name": "install pipespec", "run": cfg.install}]
        steps = setup + steps
    job["steps"] = steps
    return job
