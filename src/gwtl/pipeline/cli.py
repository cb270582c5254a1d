"""Command line of gwtl (also ``python -m gwtl``).

``gwtl basin AREA`` chooses the basin of an eHYD area and writes it into params.yaml
(or, with ``--queue``, queues a DVC experiment of it, :mod:`gwtl.pipeline.area_experiments`); ``gwtl areas``
compares the experiments' areas and test skill side by side;
``gwtl check-params params.yaml`` validates the whole file (the first stage of dvc.yaml,
on which every other stage depends through ``fetch``); ``gwtl source-manifest`` lists
what the data source holds now (the stage ``source``, :func:`gwtl.sources.fetch.source_manifest`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gwtl.params import ParamsError, load_params
from gwtl.pipeline.atomic import write_text


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
    how = basin.add_mutually_exclusive_group()
    how.add_argument("--dry-run", action="store_true", help="print the choice, do not write params.yaml")
    how.add_argument("--queue", action="store_true",
                     help="do not write params.yaml: queue a DVC experiment of the area (dvc exp run --queue "
                          "with the basin as -S values); run the queue with `dvc queue start -j 1`")
    basin.add_argument("--name", metavar="EXP", help="with --queue: the experiment's name (default: area-AREA)")
    basin.add_argument("-S", "--set-param", dest="set_param", action="append", default=[], metavar="KEY=VALUE",
                       help="with --queue: another params.yaml value of the experiment, as in dvc exp run -S "
                            "(repeat; applied after the basin's, e.g. -S train.max_epochs=50)")
    areas = commands.add_parser(
        "areas", help="compare the DVC experiments' areas: test NSE of TL and IT per experiment",
        description="Read `dvc exp show --json` and print one row per experiment (workspace and baseline "
                    "included; queued, running and failed ones with their state): basin name, area, number of "
                    "wells, and the test NSE mean and median of TL and IT at each lead with TL-IT.")
    areas.add_argument("--out", metavar="FILE.csv", help="also write the table as CSV")
    areas.add_argument("-A", "--all-commits", action="store_true",
                       help="experiments of every commit, not only of the current one (dvc exp show -A)")
    for name, out, short, long in (
            ("check-params", CHECKED, "validate params.yaml (the first stage of dvc.yaml)",
             "Validate the whole of params.yaml: unknown sections and keys, types, ranges and the rules that tie "
             "keys together. When it is valid, write OUT (always the same text, so that the stages after it do "
             "not rerun); when not, name every bad key and exit 1."),
            ("source-manifest", "data/source.json", "list what the data source holds now (the stage source of dvc.yaml)",
             "Write the SHA-256 of every file of the local source of data.source (an eHYD mirror or the folder of "
             "the CSV layout) to OUT, so that dvc repro fetches again when a file changed; downloads are named, "
             "not checked.")):
        command = commands.add_parser(name, help=short, description=long)
        command.add_argument("params", nargs="?", default="params.yaml", help="params file (default: %(default)s)")
        command.add_argument("--out", default=out, help="file to write (default: %(default)s)")
    return parser


class CommandError(Exception):
    """A command's failure for its user: printed as ``gwtl COMMAND: error: MESSAGE``, exit status 1."""


@contextmanager
def _reported(*errors: type[Exception]) -> Iterator[None]:
    """Raise the ``errors`` of the block as a :class:`CommandError` with the same message.

    Each command imports (lazily: check-params, the first stage of dvc.yaml,
    stays quick) and names the errors its user can fix.
    """
    try:
        yield
    except errors as err:
        raise CommandError(str(err)) from err


CHECKED = "data/params.ok"  # the output of the stage params of dvc.yaml
CHECKED_TEXT = "params.yaml is valid\n"  # constant: a valid change of params.yaml reruns no other stage by itself


def _check_params(args: argparse.Namespace) -> None:
    out = Path(args.out)
    try:
        load_params(args.params)
    except ParamsError as err:
        out.unlink(missing_ok=True)
        raise ParamsError(f"{err}\nNothing else was run or changed: every stage's outputs are as they were. "
                          f"Fix {args.params} and run `dvc repro` again.") from None
    write_text(out, CHECKED_TEXT)
    print(f"{args.params} is valid; wrote {out}")


def _source_manifest(args: argparse.Namespace) -> None:
    from gwtl.sources.fetch import FetchError, write_source_manifest

    with _reported(FetchError):
        manifest = write_source_manifest(load_params(args.params), args.out)
        print(f"{manifest['source']} source: {len(manifest.get('files', []))} files listed in {args.out}")


def _basin(args: argparse.Namespace) -> None:
    from gwtl.pipeline.area_experiments import AreasError, check_name, check_project, check_sets, queue_basin
    from gwtl.sources.station_choice import BasinError, basin_block, basin_params_text, choose_basin, report, write_basin
    from gwtl.sources.fetch import FetchError

    with _reported(AreasError, BasinError, FetchError):
        params = load_params(args.params)
        root = Path(args.params).resolve().parent
        if args.queue:  # what can fail without the choice fails before it
            if Path(args.params).name != "params.yaml":
                raise CommandError(f"--queue: --params {args.params}: dvc exp run -S sets the project's "
                                   "params.yaml; run from the project root without --params")
            name = args.name or f"area-{args.area}"
            check_project(root)
            check_sets(params, args.set_param)
            check_name(root, name)
        elif args.name or args.set_param:
            raise CommandError("--name and -S go with --queue (they name and set the queued experiment)")
        choice = choose_basin(params, args.area, radius_rain_km=args.radius_rain,
                              radius_gauge_km=args.radius_gauge, source=args.source, gauges=args.gauge)
        print(report(choice))
        print()
        if args.queue:
            print(queue_basin(choice, params, root, name, args.set_param))
            return
        if args.dry_run:
            text = basin_params_text(Path(args.params).read_text(encoding="utf-8"), choice)
            print(f"--dry-run: {args.params} not changed; its basin section would read:")
        else:
            text = write_basin(args.params, choice)
            print(f"wrote the basin section and forecast.forcings of {args.params}:")
        print(basin_block(text))


def _areas(args: argparse.Namespace) -> None:
    from gwtl.pipeline.area_experiments import AreasError, area_rows, areas_csv, areas_text, exp_show

    with _reported(AreasError):
        rows = area_rows(exp_show(Path.cwd(), all_commits=args.all_commits))
    if args.out:
        write_text(Path(args.out), areas_csv(rows))
    print(areas_text(rows))
    if args.out:
        print(f"\nwrote {args.out}")


COMMANDS = {"areas": _areas, "basin": _basin, "check-params": _check_params, "source-manifest": _source_manifest}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 1 error with a message on stderr)."""
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (ParamsError, CommandError) as err:
        print(f"gwtl {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
