"""Command line of gwtl: ``gwtl basin AREA`` (also ``python -m gwtl basin AREA``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .basin import BasinError, basin_block, basin_params_text, choose_basin, report, write_basin
from .fetch import FetchError
from .params import ParamsError, load_params


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gwtl", description="Groundwater level forecasting on eHYD data.")
    commands = parser.add_subparsers(dest="command", required=True)
    basin = commands.add_parser(
        "basin", help="choose the wells, rain stations and gauges of an eHYD porous-aquifer area",
        description="Choose the wells (coverage rule of prepare), rain stations and the main river gauge "
                    "of an eHYD porous-aquifer area, print why, and write the basin section and "
                    "forecast.forcings of params.yaml (every other line stays as it is).")
    basin.add_argument("area", type=int, help="eHYD porous-aquifer area number (catalog column gwgeb03), e.g. 380")
    basin.add_argument("--params", default="params.yaml", help="params file to read and update (default: %(default)s)")
    basin.add_argument("--radius-rain", type=float, default=10.0, metavar="KM",
                       help="precipitation stations within this distance of a kept well (default: %(default)g)")
    basin.add_argument("--radius-gauge", type=float, default=8.0, metavar="KM",
                       help="discharge gauges within this distance of a kept well (default: %(default)g)")
    basin.add_argument("--gauge", type=int, action="append", metavar="HZB",
                       help="keep this gauge (repeat for several) instead of the one with the largest catchment")
    basin.add_argument("--source", default=None,
                       help="override data.source: auto, download or a mirror folder")
    basin.add_argument("--dry-run", action="store_true", help="print the choice, do not write params.yaml")
    return parser


def _basin(args: argparse.Namespace) -> None:
    params = load_params(args.params)
    choice = choose_basin(params, args.area, radius_rain_km=args.radius_rain,
                          radius_gauge_km=args.radius_gauge, source=args.source, gauges=args.gauge)
    print(report(choice))
    print()
    if args.dry_run:
        text = basin_params_text(Path(args.params).read_text(encoding="utf-8"), choice)
        print(f"--dry-run: {args.params} not changed; its basin section would read:")
    else:
        text = write_basin(args.params, choice)
        print(f"wrote the basin section and forecast.forcings of {args.params}:")
    print(basin_block(text))


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 error with a message on stderr)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "basin":
            _basin(args)
    except (BasinError, FetchError, ParamsError) as err:
        print(f"gwtl {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
