"""Settings read from the environment, in one frozen object.

Every knob has a default that works on a fresh machine: the data directory ``./.nanobatch``
holds the SQLite database and the embedded Redis. The API token is read here and kept out of
``repr`` so that it never reaches a log line or an error message.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from batch.errors import ConfigError

REAL_API_BASE = "https://model-api.runcomfy.net"
PRIVATE_DIR_MODE = 0o700  # the data directory and its subfolders: only their owner may enter
PRIVATE_FILE_MODE = 0o600  # the database, logs, Redis's AOF: job inputs, broker messages
UNCERTAIN_POLICIES = ("resubmit", "hold")
RUN_BATCHES_VAR = "NANOBATCH_RUN_BATCHES"  # set by ``run``/``resume`` for their embedded workers
POST_SLACK_SECONDS = 2.0  # past the HTTP timeout, for a stopping worker's last submit answers to be written
CREDENTIAL_VARS = frozenset({"RUNCOMFY_API_TOKEN", "RUNCOMFY_API_TOKEN_FILE", "AWS_ACCESS_KEY_ID",
                             "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})
CREDENTIAL_SUFFIXES = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIALS")


def is_credential_var(name: str) -> bool:
    """True for an environment variable that, by its name, carries a credential (``*_TOKEN``,
    ``*_SECRET``, ``*_PASSWORD``, ``*_KEY``..., the API token and the AWS keys)."""
    upper = name.upper()
    return upper in CREDENTIAL_VARS or upper.rsplit("_", 1)[-1] in CREDENTIAL_SUFFIXES


@dataclass(frozen=True)
class Settings:
    """Everything nanobatch needs to know about its environment."""

    home: Path
    api_base: str = REAL_API_BASE
    token: str | None = field(default=None, repr=False)
    database_url: str | None = None
    redis_url: str | None = None
    lease_seconds: float = 60.0
    uncertain_submit: str = "resubmit"
    requests_per_second: float = 10.0
    submits_per_second: float | None = None
    rate_guard_seconds: float = 0.1  # the limiter's windows are this much longer than 1 s (jitter on the way upstream)
    max_in_flight: int = 50
    max_attempts: int = 8
    max_read_errors: int = 20  # errors reading a request upstream has before giving up on it (>= max_attempts)
    http_timeout: float = 20.0
    tick_seconds: float = 1.0
    schedule_seconds: float = 15.0
    notify_seconds: float = 15.0
    schedules_file: Path | None = None
    price_1k_2k: float = 0.15
    price_4k: float = 0.30
    run_batches: frozenset[int] | None = None  # the batches this process's workers serve (None: every batch)
    download_max_bytes: int = 200 * 1024 * 1024
    download_min_rate: float = 1024 * 1024  # bytes/s: a file gets floor + max_bytes / min_rate seconds
    download_floor_seconds: float = 30.0
    output_bytes: int | None = None  # doctor's estimate of one output file (None: by resolution and format)
    metrics_port: int | None = None  # where a worker serves Prometheus metrics (None: it does not)
    metrics_address: str = "127.0.0.1"
    download_stall_rate: float = 64 * 1024  # bytes/s over each window: a slower file is tried again later
    download_stall_seconds: float = 10.0
    download_slots: int = 4  # downloads at once per worker process: the other threads submit and poll
    stop_grace_seconds: float = 10.0  # a worker told to stop gives back what still runs after this long

    @property
    def post_wait_seconds(self) -> float:
        """How long a stopping worker waits past its grace for the submits it is sending (the HTTP
        timeout and a little more): a worker gone mid-POST leaves a submit maybe charged, unknown to us."""
        return self.http_timeout + POST_SLACK_SECONDS

    @property
    def db_url(self) -> str:
        """The database URL: the configured one, or the SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.home / 'nanobatch.db'}"

    @property
    def is_real_api(self) -> bool:
        """True when talking to RunComfy itself (a token is then mandatory)."""
        return self.api_base.rstrip("/") == REAL_API_BASE

    def check_api(self) -> str:
        """The token, once the API base is a usable URL and a token is set; else a ConfigError naming
        the variable to fix (never the token itself). Whatever the base: the simulator wants one too."""
        try:
            parts = urlsplit(self.api_base)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:  # a port that is not a number
            usable = False
        if not usable:
            raise ConfigError(f"RUNCOMFY_API_BASE must be an http(s) URL such as {REAL_API_BASE}, "
                              f"got {self.api_base!r}")
        return self.require_token()

    def require_token(self) -> str:
        """The API token, or a ConfigError that says how to set it (never the token itself)."""
        if self.token:
            return self.token
        raise ConfigError(
            "no API token: set RUNCOMFY_API_TOKEN (or RUNCOMFY_API_TOKEN_FILE naming a file that holds it)"
        )


def private_dir(path: Path, *, checked: bool = True) -> Path:
    """Create the directory ``path`` (and missing parents) readable by its owner only; return it.

    For the data directory and what nanobatch makes in it, an existing one must be ours and
    private (``check_home``): one someone else owns, can enter, or has put a link in place of
    could hand them our files, or make us write through their links (as root, anywhere).
    ``checked=False`` leaves an existing directory as it is (a folder the user chose for a
    SQLite file may hold other files too).
    """
    if not path.exists() and not path.is_symlink():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=PRIVATE_DIR_MODE)
    if checked:
        check_home(path)
    return path


def dir_problem(path: Path) -> str | None:
    """Why the existing ``path`` is not a private directory of ours (with the fix), or None.

    Ours: a directory, not a link, owned by this user, that no one else may enter (mode 700).
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return f"is a symbolic link (to {os.readlink(path)}): remove it, or point NANOBATCH_HOME at a folder"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory: remove it, or set NANOBATCH_HOME to another path"
    if info.st_uid != os.getuid():
        return (f"belongs to uid {info.st_uid}, not to you (uid {os.getuid()}): set NANOBATCH_HOME to a "
                "folder of your own")
    if stat.S_IMODE(info.st_mode) & 0o077:
        return f"has mode {stat.S_IMODE(info.st_mode):o}, not 700: run chmod 700 {path}"
    return None


def check_home(home: Path) -> None:
    """Raise ConfigError naming the fix if ``home`` (or a folder in it) exists but is not a private
    directory of ours (see ``dir_problem``)."""
    problem = dir_problem(home)
    if problem:
        raise ConfigError(f"{home} {problem}: refusing to keep nanobatch's data there")


def private_file(path: Path) -> Path:
    """Create ``path`` (empty) with mode 0600 unless it exists, and take group/other access away; return it.

    A link in its place, or a file that is not a regular file of ours, is refused (ConfigError):
    writing through it would write wherever it points.
    """
    os.close(_open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND))
    return path


def write_private(path: Path, text: str) -> None:
    """Replace the content of the private file ``path`` with ``text`` (never through a link)."""
    with open(_open_private(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w") as handle:
        handle.write(text)


def _open_private(path: Path, flags: int) -> int:
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, PRIVATE_FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(f"{path} is a symbolic link: refusing to write through it; remove it") from None
        raise
    info = os.fstat(fd)
    problem = ("is not a regular file" if not stat.S_ISREG(info.st_mode)
               else f"belongs to uid {info.st_uid}, not to you" if info.st_uid != os.getuid() else None)
    if problem:
        os.close(fd)
        raise ConfigError(f"{path} {problem}: refusing to write to it; remove it")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    os.set_blocking(fd, True)
    return fd


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def _read_token(env: Mapping[str, str]) -> str | None:
    """The token from RUNCOMFY_API_TOKEN or the file RUNCOMFY_API_TOKEN_FILE names, checked.

    Read tolerantly: a byte-order mark (as Windows editors write) and whitespace or line breaks
    around it are dropped. What is left must be fit for an HTTP header, else a ConfigError that
    says where the bad character is without quoting the token.
    """
    token = _clean_token(env.get("RUNCOMFY_API_TOKEN", ""))
    if token:
        return check_token(token, "RUNCOMFY_API_TOKEN")
    token_file = env.get("RUNCOMFY_API_TOKEN_FILE")
    if not token_file:
        return None
    try:
        raw = Path(token_file).read_bytes()
    except OSError as exc:
        raise ConfigError(f"RUNCOMFY_API_TOKEN_FILE: cannot read {token_file}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"RUNCOMFY_API_TOKEN_FILE: {token_file} is not UTF-8 text") from None
    token = _clean_token(text)
    return check_token(token, f"RUNCOMFY_API_TOKEN_FILE ({token_file})") if token else None


def _clean_token(text: str) -> str:
    return text.strip().lstrip("\ufeff").strip()


def check_token(token: str, source: str) -> str:
    """``token`` if every character is visible ASCII (what a Bearer token is made of), else ConfigError.

    The message says which character is wrong and what kind it is, never the token.
    """
    for index, char in enumerate(token, 1):
        if not "!" <= char <= "~":
            kind = ("a space" if char.isspace() else "a control character" if ord(char) < 0x20 or char == "\x7f"
                    else f"the non-ASCII character U+{ord(char):04X}")
            raise ConfigError(f"{source}: the API token cannot go in an HTTP header: character {index} of "
                              f"{len(token)} is {kind}; copy the token again from the RunComfy dashboard")
    return token


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    policy = env.get("NANOBATCH_UNCERTAIN_SUBMIT", "resubmit")
    if policy not in UNCERTAIN_POLICIES:
        raise ConfigError(f"NANOBATCH_UNCERTAIN_SUBMIT must be one of {', '.join(UNCERTAIN_POLICIES)}")
    sps = env.get("NANOBATCH_SUBMITS_PER_SECOND")
    home = Path(env.get("NANOBATCH_HOME") or ".nanobatch").resolve()
    check_home(home)
    return Settings(
        home=home,
        api_base=(env.get("RUNCOMFY_API_BASE") or REAL_API_BASE).rstrip("/"),
        token=_read_token(env),
        database_url=env.get("NANOBATCH_DATABASE_URL") or None,
        redis_url=env.get("NANOBATCH_REDIS_URL") or None,
        lease_seconds=_float(env, "NANOBATCH_LEASE_SECONDS", 60.0),
        uncertain_submit=policy,
        requests_per_second=_float(env, "NANOBATCH_REQUESTS_PER_SECOND", 10.0),
        submits_per_second=_float(env, "NANOBATCH_SUBMITS_PER_SECOND", 1.0) if sps else None,
        rate_guard_seconds=_float(env, "NANOBATCH_RATE_GUARD_SECONDS", Settings.rate_guard_seconds),
        max_in_flight=int(_float(env, "NANOBATCH_MAX_IN_FLIGHT", 50)),
        max_attempts=int(_float(env, "NANOBATCH_MAX_ATTEMPTS", 8)),
        max_read_errors=int(_float(env, "NANOBATCH_MAX_READ_ERRORS", Settings.max_read_errors)),
        http_timeout=_float(env, "NANOBATCH_HTTP_TIMEOUT", 20.0),
        tick_seconds=_float(env, "NANOBATCH_TICK_SECONDS", 1.0),
        schedule_seconds=_float(env, "NANOBATCH_SCHEDULE_SECONDS", 15.0),
        notify_seconds=_float(env, "NANOBATCH_NOTIFY_SECONDS", 15.0),
        schedules_file=Path(env["NANOBATCH_SCHEDULES"].strip()) if env.get("NANOBATCH_SCHEDULES", "").strip() else None,
        price_1k_2k=_float(env, "NANOBATCH_PRICE_1K_2K", 0.15),
        price_4k=_float(env, "NANOBATCH_PRICE_4K", 0.30),
        run_batches=_batch_ids(env, RUN_BATCHES_VAR),
        download_max_bytes=int(_float(env, "NANOBATCH_DOWNLOAD_MAX_BYTES", Settings.download_max_bytes)),
        download_min_rate=_float(env, "NANOBATCH_DOWNLOAD_MIN_RATE", Settings.download_min_rate),
        download_floor_seconds=_float(env, "NANOBATCH_DOWNLOAD_FLOOR_SECONDS", Settings.download_floor_seconds),
        output_bytes=int(_float(env, "NANOBATCH_OUTPUT_BYTES", 1)) if env.get("NANOBATCH_OUTPUT_BYTES") else None,
        metrics_port=_port(env, "NANOBATCH_METRICS_PORT"),
        metrics_address=env.get("NANOBATCH_METRICS_ADDRESS") or "127.0.0.1",
        download_stall_rate=_float(env, "NANOBATCH_DOWNLOAD_STALL_RATE", Settings.download_stall_rate),
        download_stall_seconds=_float(env, "NANOBATCH_DOWNLOAD_STALL_SECONDS", Settings.download_stall_seconds),
        download_slots=max(1, int(_float(env, "NANOBATCH_DOWNLOAD_SLOTS", Settings.download_slots))),
        stop_grace_seconds=_float(env, "NANOBATCH_STOP_GRACE_SECONDS", Settings.stop_grace_seconds),
    )


def _port(env: Mapping[str, str], name: str) -> int | None:
    """A TCP port (1 to 65535) named by ``name``, or None when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{name} must be a port number (1 to 65535), got {raw!r}")
    return int(raw)


def _batch_ids(env: Mapping[str, str], name: str) -> frozenset[int] | None:
    """A comma-separated list of batch ids (None when unset or empty)."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return frozenset(int(part) for part in raw.split(","))
    except ValueError:
        raise ConfigError(f"{name} must be batch ids separated by commas, got {raw!r}") from None
