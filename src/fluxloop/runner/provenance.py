"""What an experiment ran on: versions, platform, git revision (a reproducibility snapshot)."""

from __future__ import annotations

import platform
import subprocess
import sys
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from fluxloop.sdk.masking import REDACTED, is_secret_key, mask_string

__all__ = ["environment_info", "git_revision", "masked_argv", "package_version"]


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=8)
def git_revision(directory: str) -> dict[str, Any] | None:
    """``{"revision", "dirty", "branch"}`` of the git checkout holding ``directory``, if any."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=directory,
                capture_output=True,
                text=True,
                timeout=3,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    revision = git("rev-parse", "HEAD")
    if not revision:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    return {"revision": revision, "dirty": bool(status), "branch": branch}


def environment_info(project_dir: Path) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "fluxloop": package_version("fluxloop"),
        "fluxloop_exporters": package_version("fluxloop-exporters"),
        "opentelemetry_sdk": package_version("opentelemetry-sdk"),
        "git": git_revision(str(project_dir)),
        "argv": masked_argv(sys.argv),
    }


def masked_argv(argv: list[str]) -> list[str]:
    """The command line with the values of secret options masked (``--supervisor-api-key KEY``,
    ``--llm-api-key=KEY``) and secret-looking values (``sk-…``) too."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if arg.startswith("--"):
            name, eq, _ = arg[2:].partition("=")
            if is_secret_key(name):
                if eq:
                    out.append(f"--{name}={REDACTED}")
                else:
                    out.append(arg)
                    hide_next = True
                continue
        out.append(mask_string(str(arg)))
    return out
