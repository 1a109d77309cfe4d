"""Mutation score of leadq's core modules: how many one-line breakages the tests catch.

A developer tool (CI does not run it: a full pass takes hours of CPU). For each core module,
one at a time, it copies the project to `mutants/by-module/<module>/` (git-ignored), points
mutmut (the `mutmut>=3` dev extra) at that module and at the tests relevant to it, runs
`nice -n 10 python -m mutmut run`, then prints per module the mutants killed, survived and
the score (killed / (killed + survived), the equivalent mutants listed in tests/README.md left
out). mutmut keeps its results in each copy, so a second run only re-tests the mutants of
changed functions and those that survived before (against today's tests).

    python tools/mutation_score.py                    # every core module
    python tools/mutation_score.py rules audit        # some of them
    python tools/mutation_score.py --report           # print the last results, run nothing
    python tools/mutation_score.py --survivors rules  # also list the surviving mutants
    python tools/mutation_score.py --tests-from f7bf252   # the score of an older revision's tests
    python tools/mutation_score.py registry_gate --only decide,parse_metric   # part of a module

Shared mutmut settings (the copied files, `-m "not slow"`, the `mutation` hypothesis profile
without shrinking) live in pyproject.toml's `[tool.mutmut]`; this script adds the module
(`only_mutate`), its tests (`pytest_add_cli_args_test_selection`) and, for modules where only
part is core (routing in predict, the registry gate), the functions to mutate. mutmut's log of
each run is `mutants/by-module/<module>/mutmut.log`.

`--tests-from REV` measures the tests of another revision against today's code (the "before"
figure): the module's test files that exist at REV, in `mutants/by-module@REV/`; tests there
that use a fixture which trains a model or starts Spark are left out as `slow`, as today's are.
REV needs today's test layout (tests/<subpackage>/test_<module>.py); the figures of revisions
before the tests were moved, measured under their old names, are in tests/README.md.
"""

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ["src", "tests", "benchmarks", "pipelines"]
HEAVY_FIXTURES = ("trained", "store", "compared", "small", "spark", "generated_dir")
BASELINE_HOOKS = f"""

# --- added by tools/mutation_score.py to this scratch copy of older tests -----------------------
import hypothesis as _hypothesis  # noqa: E402

_hypothesis.settings.register_profile("mutation", derandomize=True, database=None, phases=(
    _hypothesis.Phase.explicit, _hypothesis.Phase.reuse, _hypothesis.Phase.generate))


def pytest_collection_modifyitems(items):
    for item in items:
        if set({HEAVY_FIXTURES!r}) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
"""
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
SURVIVED = {"survived", "no tests"}


@dataclass(frozen=True)
class Module:
    """A core module, the tests that exercise it and, optionally, the functions to mutate."""

    path: str
    tests: list[str]
    functions: list[str] = field(default_factory=list)

    @property
    def dotted(self) -> str:
        return self.path.removeprefix("src/").removesuffix(".py").replace("/", ".")

    def mutant_patterns(self) -> list[str]:
        """mutmut's names of this module's mutants: `pkg.mod.x_func__mutmut_3`,
        `pkg.mod.xǁClassǁmethod__mutmut_1`."""
        names = [("xǁ" + f.replace(".", "ǁ")) if "." in f else f"x_{f}" for f in self.functions] or ["*"]
        return [f"{self.dotted}.{name}__mutmut_*" for name in names]


FEATURE_TESTS = ["tests/features/test_point_in_time.py", "tests/features/test_pandas_baseline.py", "tests/features/test_engine.py"]
# load's callers from the data layer's readers (files, folders, databases, mappings, stage columns)
LOAD_READER_TESTS = [f"tests/data/test_{name}.py" for name in (
    "read_tables", "csv_dialect", "database", "sources", "stages", "event_rules", "attributes", "timestamps")]
CORE = {
    "features": Module("src/leadq/features/engine.py", [*FEATURE_TESTS, "tests/features/test_examples.py",
                                                         "tests/features/test_engine_cases.py"]),
    "event_arrays": Module("src/leadq/features/arrays.py", [*FEATURE_TESTS, "tests/features/test_arrays.py"]),
    "features_sql": Module("src/leadq/features/sql.py", [*FEATURE_TESTS[:2], "tests/features/test_sql_cases.py"]),
    "examples": Module("src/leadq/features/examples.py", ["tests/features/test_examples.py", "tests/features/test_engine.py"]),
    "policy": Module("src/leadq/data/policy.py", ["tests/data/test_policy.py", "tests/data/test_load.py"]),
    "load": Module("src/leadq/data/load.py", ["tests/data/test_load_cases.py", "tests/data/test_policy.py", "tests/data/test_load.py",
                                         *LOAD_READER_TESTS, "tests/features/test_examples.py",
                                         "tests/features/test_engine.py", "tests/features/test_pandas_baseline.py"]),
    "reasons": Module("src/leadq/models/reasons.py", ["tests/models/test_reasons.py", "tests/models/test_reasons_paths.py",
                                                  "tests/scoring/test_predict.py"]),
    "predict": Module("src/leadq/scoring/predict.py", ["tests/scoring/test_predict.py"], [
        "stale_data_warning", "score_header", "finish_scores", "score_chunk"]),
    "routing": Module("src/leadq/scoring/routing.py", ["tests/scoring/test_predict.py"]),
    "registry_gate": Module("src/leadq/tracking/registry.py", ["tests/tracking/test_registry.py"], [
        "GateDecision.as_tags", "parse_metric", "register_version", "score_champion_on", "missing_columns_note",
        "decide", "run_gate"]),
    "train_gate": Module("src/leadq/tracking/training_run.py", ["tests/tracking/test_training_run_cases.py",
                                                                "tests/tracking/test_registry.py"],
                         ["register_and_gate", "_gate_on_logged_metric"]),
    "audit": Module("src/leadq/models/audit.py", ["tests/models/test_audit.py"]),
    "rules": Module("src/leadq/rules/scorecard.py", ["tests/rules/test_scorecard.py"]),
}


def equivalent_mutants(readme: Path = ROOT / "tests" / "README.md") -> dict[str, str]:
    """The mutants tests/README.md lists as equivalent (table rows: | `name` | reason |)."""
    text = readme.read_text() if readme.exists() else ""
    return dict(re.findall(r"^\|\s*`([\w.ǁ]+__mutmut_\d+)`\s*\|\s*(.+?)\s*\|\s*$", text, flags=re.M))


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "]"


def work_dir(name: str, tests_from: str | None) -> Path:
    """Where a module's copy lives: `mutants/by-module[@REV]/<module>`."""
    return ROOT / "mutants" / ("by-module" + (f"@{tests_from}" if tests_from else "")) / name


def _tests_at(revision: str, destination: Path) -> None:
    """`tests/` as of a git revision, with the baseline hooks appended to its conftest."""
    shutil.rmtree(destination / "tests", ignore_errors=True)
    archive = subprocess.run(["git", "archive", revision, "tests"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)
    conftest = destination / "tests" / "conftest.py"
    conftest.write_text(conftest.read_text() + BASELINE_HOOKS)


def prepare_copy(name: str, module: Module, tests_from: str | None = None) -> tuple[Path, list[str]]:
    """The module's working copy, refreshed from the project (its tests from `tests_from` when
    given), with its own [tool.mutmut]; and the module's test files found there."""
    work = work_dir(name, tests_from)
    work.mkdir(parents=True, exist_ok=True)
    for folder in COPIED:
        if folder == "tests" and tests_from:
            _tests_at(tests_from, work)
            continue
        shutil.copytree(ROOT / folder, work / folder, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis"))
    tests = [t for t in module.tests if (work / t).exists()]
    shared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    text = re.sub(r"\n\[tool\.mutmut\]\n(?:(?!\n\[).)*", "\n", (ROOT / "pyproject.toml").read_text(), flags=re.S)
    text += "\n[tool.mutmut]\n"
    text += f"source_paths = {_toml_list(shared.get('source_paths', ['src']))}\n"
    text += f"also_copy = {_toml_list(shared.get('also_copy', []))}\n"
    text += f"pytest_add_cli_args = {_toml_list(shared.get('pytest_add_cli_args', []))}\n"
    text += f"only_mutate = {_toml_list([module.path])}\n"
    text += f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
    (work / "pyproject.toml").write_text(text)
    return work, tests


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_module(name: str, module: Module, children: int, tests_from: str | None = None,
               only: list[str] | None = None) -> None:
    """mutmut on one module in its copy, at low priority (its output in the copy's mutmut.log).

    mutmut keeps a mutant's verdict until its function changes, so a mutant that survived an
    earlier run is named again afterwards to be re-tested against today's tests."""
    work, tests = prepare_copy(name, module, tests_from)
    if not tests:
        print(f"== {name}: no test files of it at {tests_from}", flush=True)
        return
    earlier = {k for k, v in results(name, module, tests_from).items() if v in SURVIVED}
    patterns = Module(module.path, module.tests, only).mutant_patterns() if only else (
        module.mutant_patterns() if module.functions else [])
    print(f"== {name}: {' '.join(tests)}" + (f" (only {', '.join(only)})" if only else ""), flush=True)
    _mutmut_run(work, children, patterns, "w")
    again = sorted(k for k, v in results(name, module, tests_from).items() if v in SURVIVED and k in earlier)
    if again and not patterns:  # (named patterns re-test every mutant anyway)
        print(f"   re-testing {len(again)} mutants that survived an earlier run", flush=True)
        _mutmut_run(work, children, again, "a")


def _mutmut_run(work: Path, children: int, names: list[str], log_mode: str) -> None:
    command = ["nice", "-n", "10", sys.executable, "-m", "mutmut", "run", "--max-children", str(children), *names]
    with open(work / "mutmut.log", log_mode) as log:
        subprocess.run(command, cwd=work, env=_environment(), stdout=log, stderr=subprocess.STDOUT, check=False)


def results(name: str, module: Module, tests_from: str | None = None) -> dict[str, str]:
    """Status of each of the module's mutants in its copy (empty when it never ran)."""
    work = work_dir(name, tests_from)
    if not (work / "mutants").exists():
        return {}
    done = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=work,
                          env=_environment(), capture_output=True, text=True, check=False)
    statuses = dict(re.findall(r"^\s+(\S+__mutmut_\d+): (.+)$", done.stdout, flags=re.M))
    patterns = module.mutant_patterns()
    return {k: v for k, v in statuses.items() if any(fnmatch.fnmatch(k, p) for p in patterns)}


def report(names: list[str], show_survivors: bool, tests_from: str | None = None) -> None:
    """One line per module: killed, survived, equivalent, not run, score; survivors on request."""
    equivalent = equivalent_mutants()
    print(f"tests from {tests_from or 'the working tree'}; equivalent mutants from tests/README.md")
    print(f"{'module':<16} {'killed':>7} {'survived':>9} {'equivalent':>11} {'not run':>8} {'total':>6} {'score':>7}")
    for name in names:
        statuses = results(name, CORE[name], tests_from)
        excluded = {k for k in statuses if k in equivalent}
        counted = {k: v for k, v in statuses.items() if k not in excluded}
        killed = sum(v in KILLED for v in counted.values())
        survived = sorted(k for k, v in counted.items() if v in SURVIVED)
        other = len(counted) - killed - len(survived)
        judged = killed + len(survived)
        score = f"{killed / judged:.1%}" if judged else "-"
        print(f"{name:<16} {killed:>7} {len(survived):>9} {len(excluded):>11} {other:>8} {len(statuses):>6} {score:>7}")
        if show_survivors:
            for mutant in survived:
                print(f"    {statuses[mutant]}: {mutant}")


def main(argv: list[str] | None = None) -> None:
    """Run mutmut per core module (or only report), then print the scores."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"core modules (default: all): {', '.join(CORE)}")
    parser.add_argument("--report", action="store_true", help="print the last results without running")
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants")
    parser.add_argument("--children", type=int, default=1, help="parallel mutmut workers (default 1)")
    parser.add_argument("--tests-from", metavar="REV", help="measure the tests of git revision REV instead")
    parser.add_argument("--only", metavar="FUNCS", help="mutate only these functions (comma-separated, "
                        "`Class.method` for methods); the module's others show as not run")
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in CORE]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; core modules: {', '.join(CORE)}")
    names = args.modules or list(CORE)
    if not args.report:
        for name in names:
            run_module(name, CORE[name], args.children, args.tests_from,
                       args.only.split(",") if args.only else None)
    report(names, args.survivors, args.tests_from)


if __name__ == "__main__":
    main()
