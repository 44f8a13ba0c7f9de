import re
import tomllib

import yaml

# pyproject name -> conda-forge name where they differ
CONDA_NAMES = {"torch": "pytorch"}


def pyproject_pins(repo) -> dict[str, str]:
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["test"]
    pins = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^;\s]+)", requirement)
        assert match, f"{requirement} is not pinned exactly"
        pins[CONDA_NAMES.get(match[1], match[1])] = match[3]
    return pins


def conda_pins(repo) -> dict[str, str]:
    env = yaml.safe_load((repo / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and "=" in dep:
            name, version = dep.split("=", 1)
            pins[name] = version
        elif isinstance(dep, dict):  # the pip section: packages conda does not carry
            for line in dep.get("pip", []):
                if "==" in line:
                    name, version = line.split("#")[0].strip().split("==", 1)
                    pins[name] = version
    return pins


def test_environment_yml_pins_the_same_versions_as_pyproject(repo):
    conda = conda_pins(repo)
    conda.pop("python")
    assert conda == pyproject_pins(repo)


def test_conda_environment_brings_what_the_reports_extra_brings(repo):
    env = yaml.safe_load((repo / "environment.yml").read_text())
    assert "pygments" in env["dependencies"]
    assert "conda-forge" in env["channels"]


def test_the_results_depend_on_the_versions_the_issue_names(repo):
    pins = pyproject_pins(repo)
    assert pins["pytorch"] == "2.13.0" and pins["torchdiffeq"] == "0.2.5"
