"""Run the fake vendors standalone: ``python -m mediatasks.testing.fake_vendors --all``.

Starts the chosen fakes on free loopback ports, prints the ``MEDIATASKS_*`` variables
that point a deployment at them (as ``export`` lines, or ``--format env`` for a .env
file), and serves until interrupted (Ctrl-C / SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from mediatasks.testing.fake_vendors import (
    FakeAssemblyAI,
    FakeGemini,
    FakeOpenAI,
    FakeStability,
)

FAKES = {
    "openai": FakeOpenAI,
    "stability": FakeStability,
    "gemini": FakeGemini,
    "assemblyai": FakeAssemblyAI,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mediatasks.testing.fake_vendors",
        description="Serve loopback fakes of the cloud AI vendors for local runs and tests.",
    )
    parser.add_argument("--all", action="store_true", help="start every fake")
    for name in FAKES:
        parser.add_argument(f"--{name}", action="store_true", help=f"start the {name} fake")
    parser.add_argument("--format", choices=("export", "env"), default="export")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    chosen = [name for name in FAKES if args.all or getattr(args, name)]
    if not chosen:
        parser.error("choose --all or at least one of " + ", ".join(f"--{n}" for n in FAKES))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    running = []
    try:
        for name in chosen:
            running.append(FAKES[name]().start())
        prefix = "export " if args.format == "export" else ""
        lines = [f"# fake vendors: {', '.join(chosen)} (Ctrl-C to stop)"]
        for fake in running:
            lines += [f"{prefix}{key}={value}" for key, value in fake.env().items()]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        while not stop.wait(1.0):
            pass
    finally:
        for fake in running:
            fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
