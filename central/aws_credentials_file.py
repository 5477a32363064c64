"""Write a profile into the AWS shared credentials file without disturbing the rest.

The file is INI as botocore reads it (configparser: ``[name]`` headers, ``key = value``,
``#``/``;`` comment lines, indented continuation lines). configparser cannot write a file
back with its comments, so the edit is line-based: in the named section, our keys (and
their continuation lines) are replaced; every other line, section and comment stays byte
for byte. The result replaces the file atomically with mode 0600.
"""

from __future__ import annotations

import os

from endorse_ble.central.atomic_file import atomic_write, make_private_dir
from endorse_ble.central.credential_cache import is_valid_profile
from endorse_ble.central.credentials import AwsCredentials
from endorse_ble.central.errors import CredentialsFileError

#: Keys this tool manages in its profile (aws_security_token is the legacy session key).
MANAGED_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
_STALE_KEYS = frozenset((*MANAGED_KEYS, "aws_security_token"))
#: A credentials file larger than this is not something we should rewrite.
MAX_FILE_BYTES = 1024 * 1024


def credentials_file_path() -> str:
    """``$AWS_SHARED_CREDENTIALS_FILE`` or ``~/.aws/credentials`` (AWS CLI rules)."""
    configured = os.environ.get("AWS_SHARED_CREDENTIALS_FILE")
    return os.path.expanduser(configured or os.path.join("~", ".aws", "credentials"))


def _section_name(line: str) -> str | None:
    stripped = line.strip()
    if stripped.startswith("[") and "]" in stripped:
        return stripped[1 : stripped.rindex("]")].strip()
    return None


def _key(line: str) -> str | None:
    if not line.strip() or line[0] in " \t" or line.lstrip()[0] in "#;":
        return None
    for sep in "=:":
        if sep in line:
            return line.split(sep, 1)[0].strip().lower()
    return None


def _is_continuation(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and line[0] in " \t" and stripped[0] not in "#;"


def upsert_profile(text: str, profile: str, values: list[tuple[str, str]]) -> str:
    """``text`` with ``values`` set in ``[profile]`` (created at the end if missing)."""
    newline = "\r\n" if "\r\n" in text else "\n"
    new_lines = [f"{key} = {value}{newline}" for key, value in values]
    out: list[str] = []
    section: str | None = None
    placed = False
    dropping = False
    for line in text.splitlines(keepends=True):
        name = _section_name(line)
        if name is not None:
            section = name
            dropping = False
            out.append(line)
            if name == profile and not placed:
                if not line.endswith(("\n", "\r")):
                    out[-1] = line + newline
                out.extend(new_lines)
                placed = True
            continue
        if section == profile:
            if dropping and _is_continuation(line):
                continue
            dropping = _key(line) in _STALE_KEYS
            if dropping:
                continue
        out.append(line)
    if not placed:
        if out and not out[-1].endswith(("\n", "\r")):
            out[-1] += newline
        if out and out[-1].strip():
            out.append(newline)
        out.append(f"[{profile}]{newline}")
        out.extend(new_lines)
    return "".join(out)


def _load_target(profile: str, path: str | None) -> tuple[str, str]:
    """The credentials file to rewrite and its text, after every check that can be made
    without credentials. Raises CredentialsFileError."""
    if not is_valid_profile(profile):
        raise CredentialsFileError(
            path or "credentials file", f"invalid profile name {profile!r} (use A-Z a-z 0-9 . _ -)"
        )
    target = os.path.realpath(path or credentials_file_path())
    try:
        with open(target, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        data = b""
    except OSError as exc:
        raise CredentialsFileError(target, exc.strerror or str(exc)) from exc
    if len(data) > MAX_FILE_BYTES:
        raise CredentialsFileError(target, f"larger than {MAX_FILE_BYTES} bytes; not rewritten")
    try:
        return target, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CredentialsFileError(target, "not UTF-8 text; not rewritten") from exc


def check_profile_target(profile: str, path: str | None = None) -> str:
    """Fail now, before a fresh token is spent, if ``[profile]`` could not be written."""
    target, _ = _load_target(profile, path)
    directory = os.path.dirname(target)
    try:
        make_private_dir(directory)
    except OSError as exc:
        raise CredentialsFileError(target, exc.strerror or str(exc)) from exc
    # The file is replaced atomically: what matters is writing in its directory.
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CredentialsFileError(target, f"{directory} is not writable")
    return target


def write_profile(profile: str, credentials: AwsCredentials, path: str | None = None) -> str:
    """Put ``credentials`` into ``[profile]`` of the shared credentials file; return its path.

    A symlinked credentials file is updated where it points. Raises CredentialsFileError.
    """
    target, text = _load_target(profile, path)
    values = list(
        zip(
            MANAGED_KEYS,
            (credentials.access_key_id, credentials.secret_access_key, credentials.session_token),
            strict=True,
        )
    )
    try:
        make_private_dir(os.path.dirname(target))
        atomic_write(target, upsert_profile(text, profile, values).encode("utf-8"))
    except OSError as exc:
        raise CredentialsFileError(target, exc.strerror or str(exc)) from exc
    return target
