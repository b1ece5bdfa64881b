"""The registry of diagnostic codes. A code is never reused once retired.

Each entry: code -> (name, default severity, one-line summary). Messages themselves are
built where the problem is found; docs/diagnostics.md documents every code here, and a test
keeps the two in step.
"""

from __future__ import annotations

ERROR = "error"
WARNING = "warning"

CODES: dict[str, tuple[str, str, str]] = {
    # -- E1xx: reading the file -------------------------------------------------------------
    "E100": ("yaml-syntax", ERROR, "the file is not well-formed YAML"),
    "E101": ("duplicate-key", ERROR, "a mapping has the same key twice"),
    "E102": ("non-string-key", ERROR, "a mapping key is not a string"),
    "E103": ("yaml11-boolean-key", ERROR, "a key such as on/yes/no/off that YAML 1.1 tools read as a boolean"),
    "E104": ("alias-bomb", ERROR, "anchors and aliases expand beyond the safe bound"),
    "E105": ("file-too-large", ERROR, "the file is larger than the size bound"),
    "E106": ("custom-tag", ERROR, "a YAML tag such as !!python/object or !Ref"),
    "E107": ("expression-in-flow-collection", ERROR, "an unquoted ${{ inside {...} or [...]"),
    "E108": ("version-like-float", ERROR, "an unquoted number like 3.10 where a string is expected"),
    "E109": ("not-a-document", ERROR, "the file is empty, not UTF-8, or holds several documents"),
    "E110": ("control-character", ERROR, "a string holds a NUL, the control character no target can carry"),
    "E111": ("unreadable-file", ERROR, "a spec file cannot be read: missing, no permission, or not a regular file"),
    # -- E2xx: shape (JSON Schema) -----------------------------------------------------------
    "E200": ("wrong-type", ERROR, "a value has the wrong type"),
    "E201": ("unknown-key", ERROR, "a key the language does not define"),
    "E202": ("missing-key", ERROR, "a required key is missing"),
    # E203 was the catch-all for values a key does not allow; the problems with a code of their
    # own (E214-E224) left it, and it keeps what remains: a bound of the schema not met
    "E203": ("invalid-value", ERROR, "a value outside a bound of its key: a minimum or maximum, non-empty, unique items"),
    "E204": ("invalid-name", ERROR, "a name is not legal on every target"),
    "E205": ("invalid-duration", ERROR, "a duration is not like 30s, 5m, 2h or 1h30m"),
    "E206": ("invalid-quantity", ERROR, "a cpu or memory quantity is not like 2, 500m, 4Gi"),
    "E207": ("invalid-schedule", ERROR, "a schedule is neither a 5-field cron nor a preset"),
    "E208": ("unsupported-version", ERROR, "the pipespec language version is not supported"),
    "E209": ("invalid-default", ERROR, "a parameter default does not match its type or constraints"),
    "E210": ("number-out-of-range", ERROR, "an integer outside int64, or a number too large for a float"),
    "E211": ("duration-too-long", ERROR, "a timeout or retry delay longer than the 30-day bound"),
    "E212": ("quantity-too-large", ERROR, "a memory or cpu quantity beyond what every target can hold"),
    "E213": ("invalid-command", ERROR, "a targets.*.pipespec command that is empty or does not split as shell words"),
    "E214": ("constraint-for-other-type", ERROR, "minimum:, maximum: or items: on a parameter of a type it does not apply to"),
    "E215": ("run-and-call", ERROR, "a step with both run: and call:"),
    "E216": ("with-on-run-step", ERROR, "with: on a run: step (arguments are for call: steps)"),
    "E217": ("parallelism-without-foreach", ERROR, "parallelism: on a step without foreach:"),
    "E218": ("expression-in-image", ERROR, "an image: that holds a ${{ }} expression"),
    "E219": ("finally-step-key", ERROR, "if:, foreach: or needs: on a finally: step"),
    "E220": ("expression-in-literal", ERROR, "a ${{ }} inside a list or map literal, where it would not be evaluated"),
    "E221": ("reserved-env-name", ERROR, "an env: name in the PIPESPEC_* space that pipespec sets itself"),
    "E222": ("invalid-variable-name", ERROR, "an env: or with: name that is not letters, digits and underscores"),
    "E223": ("not-one-of", ERROR, "a value that is not one of those its key allows"),
    "E224": ("too-long", ERROR, "a string longer than its key allows"),
    "E230": ("target-options-unloadable", ERROR, "an installed target's options declaration does not load"),
    "E231": ("undeclared-capability", ERROR, "a backend's capability table does not cover a feature the spec uses"),
    # -- E3xx: expressions -------------------------------------------------------------------
    "E300": ("expression-syntax", ERROR, "an expression inside ${{ }} does not parse"),
    "E301": ("unknown-context", ERROR, "a name that is not a context, or a field a context lacks"),
    "E302": ("type-mismatch", ERROR, "operands or arguments of incompatible types"),
    "E303": ("unknown-param", ERROR, "params.X names no declared parameter"),
    "E304": ("unknown-step", ERROR, "steps.X or needs: names no step"),
    "E305": ("unknown-output", ERROR, "steps.S.outputs.X names no output of that step"),
    "E306": ("item-outside-foreach", ERROR, "${{ item }} in a step without foreach"),
    "E307": ("condition-not-bool", ERROR, "an if: expression is not boolean"),
    "E308": ("foreach-not-list", ERROR, "a foreach: expression is not a list"),
    "E309": ("secret-outside-env", ERROR, "secrets.X used anywhere but an env: value"),
    "E310": ("status-outside-finally", ERROR, "run.status used outside a finally: step"),
    "E311": ("unknown-secret", ERROR, "secrets.X names no declared secret"),
    "E312": ("unknown-function", ERROR, "a call to a function outside the fixed set, or with the wrong arity"),
    "E313": ("own-output-misuse", ERROR, "outputs.X names no artifact output of this step"),
    "E314": ("unterminated-expression", ERROR, "${{ without a closing }}"),
    "E315": ("expression-in-unsafe-shell-context", ERROR,
             "a ${{ }} in a shell run: where no variable reference can carry its value (single quotes, backticks, ...)"),
    # -- E4xx: the graph ----------------------------------------------------------------------
    "E400": ("dependency-cycle", ERROR, "steps depend on each other in a cycle"),
    "E401": ("self-dependency", ERROR, "a step depends on itself"),
    "E402": ("finally-reads-outputs", ERROR, "a finally: step reads step outputs, which may not exist"),
    "E403": ("argument-shadows-output", ERROR, "a with: argument has the name of an artifact output of the same step"),
    "E404": ("invalid-callable", ERROR, "call: is not module:function with Python identifiers"),
    "E405": ("duplicate-step", ERROR, "a finally: step has the name of a step"),
    "E406": ("artifact-as-value", ERROR, "an artifact (a path) read in if: or foreach:, where a value is needed"),
    # paths: relative to the spec's folder, and inside it
    "E407": ("absolute-dep", ERROR, "a deps: entry is an absolute path"),
    "E408": ("dep-outside-project", ERROR, "a deps: entry climbs out of the spec's folder with .."),
    "E409": ("output-outside-project", ERROR, "a targets.*.output is absolute or climbs out of the spec's folder"),
    "E410": ("duplicate-secret-env", ERROR, "two secrets are read from the same environment variable"),
    # -- E7xx/W7xx: alerts, tracking, metrics (notify:, tracking:, metrics:) ------------------
    "E700": ("unknown-channel", ERROR, "an event of notify: sends to a channel that notify.channels does not declare"),
    "E701": ("unknown-integration-secret", ERROR, "a channel or the Pushgateway names a secret that secrets: does not declare"),
    "E702": ("alert-condition-not-bool", ERROR, "a notify.when if: is not a boolean expression"),
    "E703": ("channel-option-mismatch", ERROR, "a channel option its type does not have, or an email channel without to:/from:"),
    "E704": ("unknown-register-output", ERROR, "tracking.mlflow.register names no step, or no model output of it"),
    "E705": ("pushgateway-twice", ERROR, "metrics: gives both pushgateway and pushgateway_secret"),
    "E706": ("textfile-not-prom", ERROR, "metrics.textfile does not end in .prom (node_exporter reads only *.prom)"),
    "E707": ("unknown-notify-step", ERROR, "notify.steps names a step that the pipeline does not have"),
    "W700": ("unused-channel", WARNING, "a declared channel that no event sends to"),
    "W701": ("integration-local-only", WARNING, "notify:, metrics: or tracking: on a compiled target that does not carry it out yet"),
    "W702": ("tracking-store-on-worker", WARNING, "tracking: on a target whose tasks run on fresh machines, with no tracking.mlflow.uri: the default store is lost with each task"),
    "W703": ("recovery-without-history", WARNING, "on_recovery on a target that keeps no record of the previous run: no recovery alert is ever sent"),
    "W704": ("textfile-on-worker", WARNING, "metrics.textfile on a target whose finish task runs on a fresh machine: the file is lost with it"),
    # -- E6xx/W6xx: targets (compile time) -----------------------------------------------
    "E600": ("unsupported-by-target", ERROR, "the spec says something the target cannot express"),
    "E601": ("target-limit", ERROR, "the spec exceeds a hard limit of the target"),
    "W600": ("emulated-by-target", WARNING, "the target has no native form for a feature; pipespec emulates it"),
    "W601": ("no-pipespec-on-worker", WARNING, "a step's container has no way to get pipespec"),
    # -- E61x/W61x: step images and containers (pipespec image, run --containers; docs/containers.md)
    "E610": ("unsafe-image-path", ERROR, "a path to put into a step image holds a control character, '$' or '\\'"),
    "E611": ("not-an-image-reference", ERROR, "a base or step image that is not an image reference (name[:tag][@digest])"),
    "E612": ("docker-unavailable", ERROR, "Docker is needed (build an image, run in containers) and its client or daemon does not answer"),
    "E613": ("image-build-failed", ERROR, "docker build of a step image failed or did not finish in time"),
    "E614": ("image-context-unreadable", ERROR, "a file for the image cannot be read, or the spec's folder is too large to copy"),
    "E615": ("step-image-missing", ERROR, "run --containers: the local Docker has no such image (nothing is pulled)"),
    "W610": ("image-without-requirements", WARNING, "no requirements.txt beside the spec: the image has only pipespec"),
    "W611": ("image-without-pipespec", WARNING, "run --containers: a call: step's image was not made by pipespec image"),
    # -- E8xx: importing another tool's pipeline -----------------------------------------------
    "E800": ("cannot-import", ERROR, "the file to import is not a pipeline of that tool (no stages, not a mapping)"),
    # -- E83x: org policies (docs/policies.md) --------------------------------------------------
    "E830": ("policy-crashed", ERROR, "a policy rule raised an exception or reported at something that is not a position"),
    "E831": ("invalid-policy-config", ERROR, "the [policies] table of pipespec.toml or pyproject.toml is wrong, or a policy it names does not load"),
    # the built-in opt-in rules (pipespec.policies.builtin): on only when [policies] builtin names them
    "E832": ("step-without-timeout", ERROR, "a step with no timeout: of its own nor from defaults: (opt-in policy)"),
    "E833": ("unpinned-image", ERROR, "an image with no tag, or the :latest tag (opt-in policy)"),
    "E834": ("missing-required-key", ERROR, "a key the repository's policy requires (e.g. targets.airflow.owner) is not set (opt-in policy)"),
    # -- E81x: across specs (validate of several specs, check-repo) ------------------------------
    "E810": ("duplicate-pipeline-name", ERROR, "two specs publish the same name on one target (DAG id, workflow or pipeline name)"),
    "E811": ("duplicate-output", ERROR, "two targets (of two specs, or of one) write the same compiled file"),
    "E812": ("overlapping-output", ERROR, "a compiled file inside another's path, or two that differ only in letter case"),
    "E813": ("stale-compiled-file", ERROR, "a compiled file differs from what its spec compiles to now (check-repo)"),
    "E814": ("missing-compiled-file", ERROR, "a spec's targets.T.output names a file that is not there (check-repo)"),
    "E815": ("orphaned-compiled-file", ERROR, "a compiled file whose spec is gone or no longer names it as an output (check-repo)"),
    "E816": ("cannot-upgrade", ERROR, "pipespec upgrade cannot rewrite a file: no integer version, a version newer than it knows, no migration"),
    # -- W5xx: warnings -----------------------------------------------------------------------
    "W500": ("maybe-skipped-output", WARNING, "a step reads an output of a step that may be skipped"),
    "W501": ("unused-param", WARNING, "a parameter that nothing reads"),
    "W502": ("unused-output", WARNING, "an output that nothing reads, of a step whose other outputs are read"),
    "W503": ("credential-literal", WARNING, "a literal that looks like a credential in env: or a command"),
    "W504": ("unused-secret", WARNING, "a declared secret that nothing reads"),
}


# Codes of the policy rules loaded from a repository's config (docs/policies.md): two to eight
# capital letters and three digits (ORG001, ACME120), so never one of the E/W codes above.
# Filled by pipespec.policies when a config names a policy; empty on every other run.
PLUGIN_CODES: dict[str, tuple[str, str, str]] = {}
PLUGIN_CODE_PATTERN = r"[A-Z]{2,8}[0-9]{3}"


def register_plugin_code(code: str, name: str, severity: str, summary: str) -> None:
    """Make ``code`` usable in a ``Diagnostic``. Raises ValueError for a code of the wrong form
    or one already registered with another name (two policies claiming one code)."""
    import re

    if not re.fullmatch(PLUGIN_CODE_PATTERN, code):
        raise ValueError(f"policy code {code!r} is not 2-8 capital letters and 3 digits (e.g. ORG001)")
    old = PLUGIN_CODES.get(code)
    if old is not None and old[0] != name:
        raise ValueError(f"code {code} is declared by two rules: '{old[0]}' and '{name}'")
    PLUGIN_CODES[code] = (name, severity, summary)


def entry(code: str) -> tuple[str, str, str]:
    """(name, severity, summary) of a built-in or a registered policy code; KeyError otherwise."""
    return CODES[code] if code in CODES else PLUGIN_CODES[code]


def name_of(code: str) -> str:
    return entry(code)[0]


def severity_of(code: str) -> str:
    return entry(code)[1]
