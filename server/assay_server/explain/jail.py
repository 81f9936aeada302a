"""The jail a worker closes around itself before it deserialises an untrusted model (a pickle).

Every worker already starts with an environment of its own (:func:`worker_environment`: an
allow-list, so no ``ASSAY_*`` variable, no database URL, no SMTP password) in a private
temporary directory. A jailed worker then reads the two files it needs (the artifact and the
reference data, both checked against their sha256), and before a byte of the artifact is
deserialised closes the jail (:func:`enter_jail`), which nothing in the process can reopen:

* resource limits set as hard limits (soft == hard, so the model cannot raise them): address
  space, CPU seconds, open files, file size, processes (and no core dumps);
* no capabilities (a server run as root loses ``CAP_SYS_RESOURCE``, without which no hard
  limit can be raised) and ``no_new_privs``;
* Linux's Landlock: the files it may still read are the Python installation, the import path
  and the system libraries — never the data directory nor the SQLite store, which are left out
  even when the import path would include them — and it may write in its temporary directory
  only; no TCP connection or listening socket (Landlock ABI 4, Linux 6.7); no signal to, and
  no abstract socket of, a process outside the jail (ABI 6, Linux 6.12).

A kernel without Landlock cannot keep the data directory from the model, so the jail refuses
to close (:class:`JailUnavailable`) and the pickle is not loaded. The pool kills a jailed
worker, with every process it started, after its one request (``workers.py``).
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from .messages import JailSpec

__all__ = ["THREAD_VARIABLES", "JailUnavailable", "enter_jail", "worker_environment"]

#: What a worker's environment takes from the server's (nothing else: no ASSAY_* variable).
PASSED_VARIABLES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE")
#: Numeric libraries keep to one thread in a worker: the pool is the parallelism.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
#: Shared libraries an extension module may still load lazily once the jail is closed.
SYSTEM_LIBRARIES = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib")
#: Device files some libraries open (read-write: writing to /dev/null discards).
DEVICES = ("/dev/null", "/dev/urandom")

# Landlock (linux/landlock.h): syscalls 444-446 on every architecture but alpha
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 14, 1 << 15
_FS_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_PR_SET_NO_NEW_PRIVS, _PR_CAPBSET_DROP, _PR_CAP_AMBIENT = 38, 24, 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAPABILITY_VERSION_3 = 0x20080522
_HIGHEST_CAPABILITY = 63


class JailUnavailable(Exception):
    """The jail cannot be closed here; the untrusted model must not be loaded."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def worker_environment(parent: Mapping[str, str], temp_dir: str) -> dict[str, str]:
    """The whole environment of a worker: an allow-list of the server's (never a setting nor
    a credential), one thread per numeric library, and the private directory as its temp
    directory and home (whatever a library caches stays in it and is removed with it)."""
    environment = {name: parent[name] for name in PASSED_VARIABLES if name in parent}
    environment.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    environment.update(TMPDIR=temp_dir, HOME=temp_dir)
    return environment


def enter_jail(spec: JailSpec) -> None:
    """Close the jail around this process for good; :class:`JailUnavailable` if it cannot be
    closed whole (then the caller must not load the model)."""
    try:
        _harden_limits(spec)
        _drop_capabilities()
        _no_new_privileges()
    except OSError as error:
        raise JailUnavailable(f"The worker could not drop its privileges: {error}.") from None
    readable = _readable_paths(spec["protected"])
    _restrict_files_and_network(readable, writable=[spec["temp_dir"]])


def _harden_limits(spec: JailSpec) -> None:
    """Every limit becomes hard (soft == hard): the address space and CPU seconds as the
    worker set them, and the jail's own for open files, file size, processes, core dumps."""
    for limit in (resource.RLIMIT_AS, resource.RLIMIT_CPU):
        soft, _hard = resource.getrlimit(limit)
        resource.setrlimit(limit, (soft, soft))
    fixed = {
        resource.RLIMIT_NOFILE: spec["open_files"],
        resource.RLIMIT_FSIZE: spec["file_mb"] * 1024 * 1024,
        resource.RLIMIT_NPROC: 0,  # no new process, no new thread (the kernel exempts root)
        resource.RLIMIT_CORE: 0,
    }
    for limit, value in fixed.items():
        _soft, hard = resource.getrlimit(limit)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(limit, (value, value))


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _check(result: int, what: str) -> None:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _drop_capabilities() -> None:
    """No capability left, none to regain: the bounding and ambient sets emptied (possible
    only while CAP_SETPCAP is held), then the effective, permitted and inheritable sets."""
    libc = _libc()
    for capability in range(_HIGHEST_CAPABILITY + 1):
        libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0)  # EPERM/EINVAL: nothing to drop
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    empty = (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), empty), "capset")


def _no_new_privileges() -> None:
    _check(_libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def _readable_paths(protected: Iterable[str]) -> list[str]:
    """What stays readable: the interpreter, the import path, system libraries, a few devices,
    minus anything holding (or held by) a protected path."""
    guarded = [Path(os.path.realpath(path)) for path in protected]
    candidates = [
        sys.prefix,
        sys.exec_prefix,
        sys.base_prefix,
        sys.base_exec_prefix,
        *(entry for entry in sys.path if entry),  # "" is the working (temporary) directory
        *SYSTEM_LIBRARIES,
        *DEVICES,
    ]
    readable: list[str] = []
    for candidate in candidates:
        path = Path(os.path.realpath(candidate))
        if not path.exists() or str(path) in readable:
            continue
        if any(_overlap(path, guard) for guard in guarded):
            continue
        readable.append(str(path))
    return readable


def _overlap(path: Path, guard: Path) -> bool:
    return path == guard or guard in path.parents or path in guard.parents


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _handled_fs(abi: int) -> int:
    """Every filesystem right the kernel's Landlock ABI knows (13 in ABI 1, up to 16)."""
    known = 13 + (abi >= 2) + (abi >= 3) + (abi >= 5)
    return (1 << known) - 1


def _restrict_files_and_network(readable: list[str], writable: list[str]) -> None:
    libc = _libc()
    abi = libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    if abi < 1:
        raise JailUnavailable(
            "Pickle artifacts load only inside a jail that needs Linux's Landlock (5.13 or "
            "later, enabled), which this kernel does not offer; the model was not loaded."
        )
    handled = _handled_fs(abi)
    attr = _RulesetAttr(handled_access_fs=handled)
    size = 8
    if abi >= 4:
        attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP  # and no rule allows any
        size = 16
    if abi >= 6:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = 24
    ruleset = libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    try:
        _check(ruleset, "landlock_create_ruleset")
        for path in readable:
            rights = _FS_READ_FILE | _FS_READ_DIR
            if path in DEVICES:
                rights = _FS_READ_FILE | _FS_WRITE_FILE
            _allow(libc, ruleset, path, rights & handled)
        for path in writable:
            _allow(libc, ruleset, path, handled & ~_FS_EXECUTE)
        _check(libc.syscall(_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    except OSError as error:
        raise JailUnavailable(f"The worker could not close its jail: {error}.") from None
    finally:
        if ruleset >= 0:
            os.close(ruleset)


def _allow(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    descriptor = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        if not os.path.isdir(path):
            rights &= _FS_FILE_RIGHTS  # a file takes file rights only
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=descriptor)
        _check(
            libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0),
            f"landlock_add_rule({path})",
        )
    finally:
        os.close(descriptor)
