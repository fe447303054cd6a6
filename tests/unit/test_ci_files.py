"""The CI files name real things: GitHub's resilience workflow and the project's own
.ci/run cannot be run here, so check that their scenarios, commands, scripts, make
targets and images exist and fit together."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from harness.lab.compose import IMAGE_VARS
from harness.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "resilience.yml"


def workflow() -> dict[str, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def steps() -> list[dict[str, Any]]:
    [job] = workflow()["jobs"].values()
    return list(job["steps"])


def harness_run(commands: str) -> list[str]:
    [line] = [c for c in commands.splitlines() if "harness chaos run" in c]
    return shlex.split(line.replace("\\", ""))


def test_the_workflow_runs_a_short_compose_scenario_in_ci_mode_and_uploads_its_directory():
    runs = "\n".join(s.get("run", "") for s in steps())
    words = harness_run(runs)
    assert words[0] == ".venv/bin/harness" and "--ci" in words
    scenario = load_scenario(REPO / next(w for w in words if w.endswith(".yaml")))
    assert scenario.lab.backend == "compose"
    assert scenario.duration <= 15
    out = words[words.index("--out") + 1]
    [upload] = [s for s in steps() if s.get("uses", "").startswith("actions/upload-artifact")]
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == out
    assert f"scripts/check_junit.py {out}/junit.xml" in runs


def test_the_workflow_compares_with_the_last_passing_run_through_a_cached_index():
    from harness.runindex import index_path

    names = [s.get("uses", "").split("@")[0] or s.get("run", "") for s in steps()]
    restore = names.index("actions/cache/restore")
    save = names.index("actions/cache/save")
    run = next(i for i, n in enumerate(names) if "harness chaos run" in n)
    assert restore < run < save
    restored, saved = steps()[restore], steps()[save]
    index = str(index_path({}))  # where a run writes it with no HARNESS_INDEX set
    assert restored["with"]["path"] == saved["with"]["path"] == index
    assert restored["with"]["key"] == saved["with"]["key"]
    assert saved["with"]["key"].startswith(restored["with"]["restore-keys"])
    assert saved["if"] == "success()"  # a failing run never becomes the reference
    assert "--compare-last" in harness_run(names[run])


def test_the_workflow_names_existing_make_targets_scripts_and_the_images_it_pulls():
    runs = "\n".join(s.get("run", "") for s in steps())
    makefile = (REPO / "Makefile").read_text()
    for target in re.findall(r"make (\w[\w-]*)", runs):
        assert re.search(rf"^{target}:", makefile, re.M), target
    for script in re.findall(r"scripts/\S+", runs):
        assert (REPO / script).is_file(), script
    [job] = workflow()["jobs"].values()
    defaults = dict(IMAGE_VARS.values())
    for var, image in job["env"].items():
        assert defaults[var] == image, var  # the public image the lab would use anyway
        assert f'docker pull "${var}"' in runs
    assert set(job["env"]) == {IMAGE_VARS["toxiproxy"][0], IMAGE_VARS["redis"][0]}


def test_ci_run_runs_a_short_local_scenario_in_ci_mode_and_checks_its_junit():
    text = (REPO / ".ci" / "run").read_text()
    words = harness_run(text.replace("\\\n", " "))
    scenario = load_scenario(REPO / next(w for w in words if w.endswith(".yaml")))
    assert scenario.lab.backend == "local"
    assert scenario.duration <= 15
    assert "--ci" in words
    assert 'scripts/check_junit.py "$run_dir/run/junit.xml"' in text
    assert text.index("make test") < text.index("harness chaos run")
