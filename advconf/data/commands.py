"""`advconf data ...`: data preparation commands.

    advconf data ffcv --src DIR --out DIR [--max-resolution N] [--jpeg-quality Q] [--num-workers W]
"""

import argparse
from pathlib import Path

from advconf.data.ffcv_writer import write_splits


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="advconf data", description="Prepare data sets.")
    commands = parser.add_subparsers(dest="command", required=True)
    ffcv = commands.add_parser(
        "ffcv",
        help="write FFCV .beton files from an ImageFolder tree",
        description="Write OUT/train.beton and OUT/val.beton from SRC/train/<class>/*.jpg and SRC/val/<class>/*.jpg.",
    )
    ffcv.add_argument("--src", type=Path, required=True, help="directory holding train/ and/or val/ ImageFolder trees")
    ffcv.add_argument("--out", type=Path, required=True, help="directory for the .beton files")
    ffcv.add_argument("--max-resolution", type=int, default=256, help="longest image side kept (0: no limit; default 256)")
    ffcv.add_argument("--jpeg-quality", type=int, default=90, help="JPEG quality of stored images (default 90)")
    ffcv.add_argument("--num-workers", type=int, default=-1, help="encoding processes (default: all cores)")
    ffcv.add_argument(
        "--write-mode",
        choices=["jpg", "raw", "smart", "proportion"],
        default="jpg",
        help="jpg: small files; raw: faster decoding, ~10x larger (default jpg)",
    )
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    counts = write_splits(
        args.src,
        args.out,
        max_resolution=args.max_resolution or None,
        jpeg_quality=args.jpeg_quality,
        num_workers=args.num_workers,
        write_mode=args.write_mode,
    )
    for split, n in counts.items():
        print(f"{args.out / f'{split}.beton'}: {n} images")
    return 0
