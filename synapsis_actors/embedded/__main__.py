"""Serve the embedded provider from the command line until interrupted.

    python -m synapsis_actors.embedded [--host 127.0.0.1] [--port 8765]
        [--rpm N] [--input-tpm N] [--output-tpm N] [--window SECONDS]

``--rpm`` / ``--input-tpm`` / ``--output-tpm`` enforce server-side limits
like the real APIs (429 with ``retry-after`` beyond them, both rate-limit
header families on every chat response); ``--window`` scales "per minute"
to another window. Prints ``serving on URL`` once it listens (port 0 picks a
free one).
"""

from __future__ import annotations

import argparse

import trio

from ..model.ratelimits import RateLimits
from .server import open_embedded_provider


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m synapsis_actors.embedded", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--rpm", type=int, default=None, help="requests per window")
    parser.add_argument("--input-tpm", type=int, default=None, help="input tokens per window")
    parser.add_argument("--output-tpm", type=int, default=None, help="output tokens per window")
    parser.add_argument("--window", type=float, default=60.0, help="seconds (default 60)")
    return parser


async def serve(args: argparse.Namespace) -> None:
    limits = RateLimits(
        requests_per_minute=args.rpm,
        input_tokens_per_minute=args.input_tpm,
        output_tokens_per_minute=args.output_tpm,
        window=args.window,
    )
    async with open_embedded_provider(
        host=args.host, port=args.port, rate_limits=limits if limits.limited else None
    ) as server:
        print(f"serving on {server.base_url}", flush=True)
        await trio.sleep_forever()


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        trio.run(serve, args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
