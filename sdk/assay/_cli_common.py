"""What every ``assay`` subcommand shares: the exit codes, the client built from the
command line (or ``ASSAY_URL`` / ``ASSAY_TOKEN``), and the error line."""

from __future__ import annotations

import argparse
import os
import sys

from assay.client import Client
from assay.errors import AssayError

EXIT_OK = 0
EXIT_BROKEN = 1
EXIT_ERROR = 2


def client_for(args: argparse.Namespace) -> Client:
    url = args.url or os.environ.get("ASSAY_URL")
    token = args.token or os.environ.get("ASSAY_TOKEN")
    if not url:
        raise AssayError("no server URL: pass --url or set ASSAY_URL")
    if not token:
        raise AssayError("no API token: pass --token or set ASSAY_TOKEN")
    return Client(url, token, timeout=args.timeout)


def fail(message: str) -> int:
    print(f"assay: error: {message}", file=sys.stderr)
    return EXIT_ERROR
