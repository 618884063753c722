"""Repositories, branches and paths as a task may name them (PROTOCOL.md §4.5).

These values travel to a sidecar that hands them to git and to the agent, so each is
held to a rule narrower than what git itself accepts: no whitespace or control
character anywhere, nothing that reads as an option (a leading `-`), no way out of the
work tree (`..`, an absolute path), no transport git would run a program for (`ext::`).
Each check returns the sentence that says what is wrong, or None; the Annotated types
below put them behind the input gate.
"""

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError

from agentcom_site.core.limits import LIMITS

# A registered repo's name: `name` or `owner/name`, each part like an agent id.
_REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,99})?")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?")
# scp-like `user@host:path`, the form `git clone git@github.com:owner/name.git` takes.
_SCP = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]{0,63})@([^:/]+):([^:]+)")
_URL_SCHEMES = ("http", "https", "ssh")
# Control characters, every kind of Unicode space and separator, and DEL.
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\s\u2028\u2029\ufeff]")
_BRANCH_FORBIDDEN = re.compile(r"[~^:?*\[\\]")
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")
# Commands may span lines and use tabs; no other control character.
_COMMAND_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

REPO_RULE = (
    "a repo name (letters, digits, '.', '_', '-', optionally owner/name) "
    "or an http(s)://, ssh:// or user@host:path git URL"
)


def repo_problem(value: str) -> str | None:
    if _UNSAFE.search(value):
        return "repo may not contain whitespace or control characters"
    if value.startswith("-"):
        return "repo may not start with '-'"
    if _REPO_NAME.fullmatch(value) and ".." not in value:
        return None
    if "://" in value:
        return _url_problem(value)
    scp = _SCP.fullmatch(value)
    if scp and _HOST.fullmatch(scp.group(2)) and not scp.group(3).startswith("-"):
        return None
    return f"repo must be {REPO_RULE}"


# A registered repo's own name: one part, as it appears in /api/repos/<name>.
REPO_SLUG_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_REPO_SLUG = re.compile(REPO_SLUG_PATTERN)
REGISTRY_URL_RULE = "an http(s)://, ssh://, file:// or user@host:path git URL"


def repo_slug_problem(value: str) -> str | None:
    if not _REPO_SLUG.fullmatch(value) or ".." in value:
        return (
            "a repo name is 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, without '..'"
        )
    return None


def repo_url_problem(value: str) -> str | None:
    """A registered repo's URL: what a task may name, plus `file://` for clones on the
    agent machine. Only operators register repos, so only they may point a sidecar at a
    local path; a task naming a URL itself still may not."""
    if _UNSAFE.search(value):
        return "url may not contain whitespace or control characters"
    if value.startswith("-"):
        return "url may not start with '-'"
    if value.startswith("file://"):
        return _file_url_problem(value)
    if "://" in value:
        return _url_problem(value)
    scp = _SCP.fullmatch(value)
    if scp and _HOST.fullmatch(scp.group(2)) and not scp.group(3).startswith("-"):
        return None
    return f"url must be {REGISTRY_URL_RULE}"


def _file_url_problem(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.netloc or parts.query or parts.fragment or "#" in value or "?" in value:
        return "a file:// URL is file:///absolute/path, with no host, query or fragment"
    if not parts.path.startswith("/") or not parts.path.strip("/"):
        return "a file:// URL must name an absolute path"
    if ".." in parts.path.split("/"):
        return "a file:// URL may not have a '..' part"
    return None


def _url_problem(value: str) -> str | None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "repo is not a well-formed URL"
    if parts.scheme not in _URL_SCHEMES:
        return "a repo URL must use http, https or ssh"
    if not parts.hostname or not _HOST.fullmatch(parts.hostname):
        return "a repo URL must name a host"
    if parts.password is not None:
        return "a repo URL may not carry a password; give the agent machine its credentials"
    if not parts.path.strip("/"):
        return "a repo URL must name a repository path"
    return None


def branch_problem(value: str) -> str | None:
    """git's ref name rules (git check-ref-format), and nothing that reads as an option."""
    if _UNSAFE.search(value):
        return "branch may not contain whitespace or control characters"
    if value.startswith("-"):
        return "branch may not start with '-'"
    if _BRANCH_FORBIDDEN.search(value):
        return "branch may not contain any of ~ ^ : ? * [ \\"
    if ".." in value or "@{" in value or "//" in value or value == "@":
        return "branch may not contain '..', '@{' or '//', nor be '@'"
    if value.startswith("/") or value.endswith(("/", ".", ".lock")):
        return "branch may not start with '/' nor end with '/', '.' or '.lock'"
    if any(part.startswith(".") for part in value.split("/")):
        return "no part of a branch name may start with '.'"
    return None


def relative_path_problem(value: str, *, what: str = "a path") -> str | None:
    """A path inside the work tree: relative, no `..` part, `/` as the only separator.
    Glob characters are allowed (the same rule serves `diff_within`)."""
    if _UNSAFE.search(value.replace(" ", "")):
        return f"{what} may not contain control characters or line breaks"
    if value.startswith(("/", "-", "~")) or _WINDOWS_DRIVE.match(value):
        return f"{what} must be relative to the repository (no leading '/', '-', '~' or drive)"
    if "\\" in value:
        return f"{what} uses '/' as its separator, never '\\'"
    if ".." in value.split("/"):
        return f"{what} may not have a '..' part"
    return None


def command_problem(value: str) -> str | None:
    if not value.strip():
        return "a command may not be blank"
    if _COMMAND_CONTROL.search(value):
        return "a command may not contain control characters other than tab and newline"
    return None


def _checked(check, code: str = "invalid_value"):
    def validator(value: str) -> str:
        problem = check(value)
        if problem is not None:
            raise PydanticCustomError(code, problem)
        return value

    return AfterValidator(validator)


def _bounded(limit_key: str) -> StringConstraints:
    return StringConstraints(min_length=1, max_length=LIMITS[limit_key])


RepoRef = Annotated[str, _bounded("repo"), _checked(repo_problem)]
RepoSlug = Annotated[
    str, StringConstraints(min_length=1, max_length=100), _checked(repo_slug_problem)
]
RepoUrl = Annotated[str, _bounded("repo"), _checked(repo_url_problem)]
BranchName = Annotated[str, _bounded("branch"), _checked(branch_problem)]
RelativePath = Annotated[str, _bounded("file_hint"), _checked(relative_path_problem)]
Command = Annotated[str, _bounded("command"), _checked(command_problem)]
