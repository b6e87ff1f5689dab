"""Which workspace paths listing and search tools hide by default.

Backends list everything; the tools apply these pure predicates (on normalised workspace
paths) unless the caller asks for hidden, ignored or sensitive files. See TOOLS.md.
"""

from __future__ import annotations

IGNORED_DIR_NAMES: frozenset[str] = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        "node_modules",
        "bower_components",
        ".venv",
        "venv",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        ".eggs",
        "dist",
        "build",
        "target",
        "vendor",
        ".cache",
        ".gradle",
        ".next",
        ".nuxt",
        ".svelte-kit",
        ".parcel-cache",
        ".turbo",
        ".terraform",
    }
)
"""Dependency, build and cache directories: summarised at the root rather than expanded."""

_SECRET_DIRS = frozenset({".ssh", ".gnupg", ".aws", ".kube", ".docker", "secrets", ".secrets"})
_CONFIG_DIRS = frozenset(
    {"config", "configs", "conf", ".config", "settings", "keys", ".keys", "certs", "private"}
)
_SECRET_NAMES = frozenset(
    {
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "id_ecdsa_sk",
        "id_ed25519_sk",
        "credentials",
        ".netrc",
        "_netrc",
        ".pypirc",
        ".npmrc",
        ".git-credentials",
        ".htpasswd",
        ".pgpass",
        ".dockercfg",
        ".envrc",
        # The settings files agentcycle finds by default (they may hold api_key values).
        "local_settings.json",
        "local_settings.toml",
        "local_settings.py",
    }
)
_SECRET_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk")
_ENV_TEMPLATES = frozenset({"example", "sample", "template", "dist", "defaults", "schema"})
_SECRET_WORDS = ("secret", "credential", "password", "passwd", "token", "apikey", "api_key")
_DATA_SUFFIXES = frozenset(
    {"", "json", "yml", "yaml", "toml", "ini", "cfg", "conf", "txt", "env", "properties", "xml"}
)


def is_ignored_dir_name(name: str) -> bool:
    """Whether a directory name is a dependency, build or cache directory."""
    return name in IGNORED_DIR_NAMES or name.endswith(".egg-info")


def is_ignored_path(path: str) -> bool:
    """Whether ``path`` is, or lies inside, an ignored directory."""
    return any(is_ignored_dir_name(segment) for segment in path.split("/"))


def is_hidden_path(path: str) -> bool:
    """Whether any segment of ``path`` starts with a dot."""
    return any(segment.startswith(".") for segment in path.split("/") if segment)


def _is_secret_name(name: str) -> bool:
    if name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES):
        return True
    if name == ".env":
        return True
    if name.startswith(".env."):
        return name[len(".env.") :] not in _ENV_TEMPLATES
    return False


def is_sensitive_path(path: str) -> bool:
    """Whether ``path`` looks like it holds secrets (keys, credentials, ``.env`` files ...).

    Matches ``.env`` and ``.env.*`` (not ``.env.example`` and other templates), private keys
    and certificates (``*.pem``, ``*.key``, ``id_rsa`` ...), credential files (``.netrc``,
    ``.pypirc``, ``.npmrc``, ``credentials`` ...), agentcycle's default settings files
    (``local_settings.json``, ``.toml``, ``.py``), everything under ``.ssh``, ``.gnupg``,
    ``.aws``, ``.kube``, ``.docker`` and ``secrets`` directories except public keys, and
    secret-named data files (``secrets.yml``, ``db_password.txt``) under configuration or key
    directories. Names are compared case-insensitively.
    """
    directories = path.lower().split("/")
    name = directories.pop()
    if _is_secret_name(name):
        return True
    if not directories or name.endswith(".pub"):
        return False
    if not _SECRET_DIRS.isdisjoint(directories):
        return True
    if not _CONFIG_DIRS.isdisjoint(directories):
        stem, _, suffix = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
        return suffix in _DATA_SUFFIXES and any(word in stem for word in _SECRET_WORDS)
    return False
