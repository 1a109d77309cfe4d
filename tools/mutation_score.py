"""Mutation score of leadq's core modules: how many one-line breakages the tests catch.

A developer tool (CI does not run it: a full pass takes hours of CPU). For each core module,
one at a time, it copies the project to `mutants/by-module/<module>/` (git-ignored), points
mutmut (the `mutmut>=3` dev extra) at that module and at the tests relevant to it, runs
`nice -n 10 python -m mutmut run`, then prints per module the mutants killed, survived and
the score (killed / (killed + survived), the equivalent mutants listed in tests/README.md left
out). mutmut keeps its results in each copy, so a second run only re-tests what changed.

    python tools/mutation_score.py                    # every core module
    python tools/mutation_score.py rules audit        # some of them
    python tools/mutation_score.py --report           # print the last results, run nothing
    python tools/mutation_score.py --survivors rules  # also list the surviving mutants

Shared mutmut settings (the copied files, `-m "not slow"`, the `mutation` hypothesis profile
without shrinking) live in pyproject.toml's `[tool.mutmut]`; this script adds the module
(`only_mutate`), its tests (`pytest_add_cli_args_test_selection`) and, for modules where only
part is core (routing in predict, the registry gate), the functions to mutate.
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
WORK = ROOT / "mutants" / "by-module"
COPIED = ["src", "tests", "benchmarks", "pipelines"]
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


FEATURE_TESTS = ["tests/test_point_in_time.py", "tests/test_pandas_baseline.py", "tests/test_features.py"]
CORE = {
    "features": Module("src/leadq/features.py", [*FEATURE_TESTS, "tests/test_examples.py"]),
    "event_arrays": Module("src/leadq/event_arrays.py", [*FEATURE_TESTS, "tests/test_event_arrays.py"]),
    "features_sql": Module("src/leadq/features_sql.py", FEATURE_TESTS[:2]),
    "examples": Module("src/leadq/examples.py", ["tests/test_examples.py", "tests/test_features.py"]),
    "load": Module("src/leadq/load.py", ["tests/test_load_policy.py", "tests/test_examples.py",
                                         "tests/test_features.py", "tests/test_pandas_baseline.py"]),
    "reasons": Module("src/leadq/reasons.py", ["tests/test_reasons.py", "tests/test_predict.py"]),
    "predict_routing": Module("src/leadq/predict.py", ["tests/test_predict.py"], [
        "parse_model_ref", "_funnel", "stale_data_warning", "_route", "_drift_report", "score_header",
        "finish_scores", "score_chunk"]),
    "registry_gate": Module("src/leadq/registry.py", ["tests/test_registry.py"], [
        "GateDecision.as_tags", "parse_metric", "register_version", "score_champion_on", "decide", "run_gate"]),
    "train_gate": Module("src/leadq/train.py", ["tests/test_registry.py"], ["register_and_gate",
                                                                           "_gate_on_logged_metric"]),
    "audit": Module("src/leadq/audit.py", ["tests/test_audit.py"]),
    "rules": Module("src/leadq/rules.py", ["tests/test_rules.py"]),
}


def equivalent_mutants(readme: Path = ROOT / "tests" / "README.md") -> dict[str, str]:
    """The mutants tests/README.md lists as equivalent (table rows: | `name` | reason |)."""
    text = readme.read_text() if readme.exists() else ""
    return dict(re.findall(r"^\|\s*`([\w.ǁ]+__mutmut_\d+)`\s*\|\s*(.+?)\s*\|\s*$", text, flags=re.M))


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "]"


def prepare_copy(name: str, module: Module) -> Path:
    """The module's working copy, refreshed from the project, with its own [tool.mutmut]."""
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    for folder in COPIED:
        shutil.copytree(ROOT / folder, work / folder, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis"))
    shared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    text = re.sub(r"\n\[tool\.mutmut\]\n(?:(?!\n\[).)*", "\n", (ROOT / "pyproject.toml").read_text(), flags=re.S)
    text += "\n[tool.mutmut]\n"
    text += f"source_paths = {_toml_list(shared.get('source_paths', ['src']))}\n"
    text += f"also_copy = {_toml_list(shared.get('also_copy', []))}\n"
    text += f"pytest_add_cli_args = {_toml_list(shared.get('pytest_add_cli_args', []))}\n"
    text += f"only_mutate = {_toml_list([module.path])}\n"
    text += f"pytest_add_cli_args_test_selection = {_toml_list(module.tests)}\n"
    (work / "pyproject.toml").write_text(text)
    return work


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_module(name: str, module: Module, children: int) -> None:
    """mutmut on one module in its copy, at low priority."""
    work = prepare_copy(name, module)
    patterns = module.mutant_patterns() if module.functions else []
    command = ["nice", "-n", "10", sys.executable, "-m", "mutmut", "run", "--max-children", str(children), *patterns]
    print(f"== {name}: {' '.join(command[3:])}", flush=True)
    subprocess.run(command, cwd=work, env=_environment(), check=False)


def results(name: str, module: Module) -> dict[str, str]:
    """Status of each of the module's mutants in its copy (empty when it never ran)."""
    work = WORK / name
    if not (work / "mutants").exists():
        return {}
    done = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=work,
                          env=_environment(), capture_output=True, text=True, check=False)
    statuses = dict(re.findall(r"^\s+(\S+__mutmut_\d+): (.+)$", done.stdout, flags=re.M))
    patterns = module.mutant_patterns()
    return {k: v for k, v in statuses.items() if any(fnmatch.fnmatch(k, p) for p in patterns)}


def report(names: list[str], show_survivors: bool) -> None:
    """One line per module: killed, survived, equivalent, not run, score; survivors on request."""
    equivalent = equivalent_mutants()
    print(f"{'module':<16} {'killed':>7} {'survived':>9} {'equivalent':>11} {'not run':>8} {'total':>6} {'score':>7}")
    for name in names:
        statuses = results(name, CORE[name])
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
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in CORE]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; core modules: {', '.join(CORE)}")
    names = args.modules or list(CORE)
    if not args.report:
        for name in names:
            run_module(name, CORE[name], args.children)
    report(names, args.survivors)


if __name__ == "__main__":
    main()
