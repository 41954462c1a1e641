"""``python -m tests.fakes serve <name> [--port N] [--people N]``: one contract fake on loopback.

Run it from the repository root. ``python -m tests.fakes list`` names the fakes.
"""

import argparse
import sys

from tests.fakes.catalog import FAKES, builder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the fakes that can be served")
    serve = commands.add_parser("serve", help="serve one fake until Ctrl-C")
    serve.add_argument("name", help="the fake, as `list` names it")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9100)
    serve.add_argument("--people", type=int, default=5, help="people seeded in the fake")
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(sorted(FAKES)))
        return 0
    try:
        served = builder(args.name)(args.people)
    except KeyError as error:
        print(error.args[0], file=sys.stderr)
        return 2
    import uvicorn

    print(f"{args.name} fake: base_url http://{args.host}:{args.port}{served.base_path}")
    for note in served.notes:
        print(f"  {note}")
    sys.stdout.flush()
    uvicorn.run(served.app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
