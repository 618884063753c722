"""The import rule of DESIGN.md §Layers holds, and every module imports on its own."""

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("agentcom_site", "agents", "tasks", "messaging", "sidecar")

# Imported by itself after django.setup(), each module in a forked child, so an import
# that only works because some other module happened to be imported first shows up.
ISOLATED_IMPORTS = """
import importlib, os, sys, traceback
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentcom_site.settings")
django.setup()
failed = []
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if status:
        failed.append(name)
print("FAILED:" + ",".join(failed))
"""


def app_modules() -> list[str]:
    names = []
    for app in APPS:
        names.append(app)
        for module in pkgutil.walk_packages([str(ROOT / app)], prefix=f"{app}."):
            if ".migrations." not in module.name and not module.name.endswith("__main__"):
                names.append(module.name)
    return names


def test_the_import_contracts_hold():
    linter = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_every_module_imports_on_its_own_after_setup():
    modules = app_modules()
    done = subprocess.run(
        [sys.executable, "-c", ISOLATED_IMPORTS, *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert len(modules) > 100
    assert done.stdout.strip().endswith("FAILED:"), done.stdout + done.stderr
