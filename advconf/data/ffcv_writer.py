"""Write FFCV `.beton` files from ImageFolder-layout directories (`SRC/train/<class>/*.jpg`, `SRC/val/...`).

An image that cannot be read stops the write with an error naming it (nothing is skipped: fix or
remove the file and run again); so does an encoding process that dies (out of memory, a full disk).
ffcv's own writer would wait for such a process forever, so it runs in a child process that watches
its workers and ends the whole write when one fails. No `.beton` or `.partial` file is left behind.
"""

import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any, Literal

from torchvision.datasets import ImageFolder

from advconf.data.imagenet import image_folder
from advconf.errors import AdvconfError

WriteMode = Literal["raw", "jpg", "smart", "proportion"]
SPLITS = ("train", "val")
WATCH_INTERVAL_S = 0.2


def write_beton(
    src: Path,
    out: Path,
    max_resolution: int | None = 256,
    jpeg_quality: int = 90,
    num_workers: int = -1,
    write_mode: WriteMode = "jpg",
) -> int:
    """Write one ImageFolder directory to the `.beton` file `out`; returns the number of images.

    Images are shrunk so their longer side is at most `max_resolution` (None keeps them as they
    are) and stored as JPEG of `jpeg_quality` ("jpg"), raw pixels ("raw"), or a mix (see ffcv's
    RGBImageField). ffcv shows a progress bar. The file appears only when complete, with the
    permissions of any new file (the umask applies).
    """
    try:
        from ffcv.fields import IntField, RGBImageField
    except ImportError as err:
        raise AdvconfError(f"writing .beton files needs the ffcv package ({err}); run `pip install advconf[ffcv]`") from err

    dataset = image_folder(src)  # labels = sorted class folder index
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AdvconfError(f"cannot create {out.parent}: {error.strerror}") from None
    partial = out.with_name(f".{out.name}.partial")
    fields = {"image": RGBImageField(write_mode=write_mode, max_resolution=max_resolution, jpeg_quality=jpeg_quality),
              "label": IntField()}
    try:
        failure = write_in_child(partial, fields, dataset, num_workers)
        if failure is not None:
            raise AdvconfError(f"{out} not written: {failure}")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return len(dataset)


def write_in_child(path: Path, fields: dict[str, Any], dataset: ImageFolder, num_workers: int) -> str | None:
    """Run ffcv's DatasetWriter in a child process; None when it succeeded, else why it failed (one line)."""
    context = multiprocessing.get_context("fork")  # the child gets the dataset and fields as they are
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_write, args=(path, fields, dataset, num_workers, send), name="advconf-ffcv-writer")
    child.start()
    send.close()
    try:
        while not receive.poll(WATCH_INTERVAL_S):
            if not child.is_alive():
                child.join()
                return f"the writing process died (exit status {child.exitcode})"
        outcome = receive.recv()
        child.join()
        return outcome
    except BaseException:  # Ctrl-C: the child stops its workers and cleans up before it exits
        child.terminate()
        child.join()
        raise


def _write(path: Path, fields: dict[str, Any], dataset: ImageFolder, num_workers: int, report: Connection) -> None:
    """The child process: write with ffcv's workers, watch them, and report None or the first failure."""
    from ffcv import writer as ffcv_writer

    workers: list[multiprocessing.Process] = []
    errors = multiprocessing.SimpleQueue()  # workers put a line here on an image they cannot read
    writer = ffcv_writer.DatasetWriter(str(path), fields, num_workers=num_workers)

    def end(outcome: str | None) -> None:
        """Stop every worker, free ffcv's shared memory, report, and exit the child (from any thread)."""
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
        if isinstance(getattr(writer, "metadata_sm", None), SharedMemory):
            writer.metadata_sm.close()
            try:
                writer.metadata_sm.unlink()
            except FileNotFoundError:  # ffcv freed it already
                pass
        if outcome is not None and workers:
            print(file=sys.stderr, flush=True)  # end ffcv's progress bar line: the error gets a line of its own
        report.send(outcome)
        os._exit(0 if outcome is None else 1)

    def start_worker(target: Any, args: tuple) -> multiprocessing.Process:
        worker = multiprocessing.Process(target=reporting(target, errors), args=args, daemon=True)
        workers.append(worker)
        return worker

    def watch() -> None:
        while True:
            if not errors.empty():
                end(errors.get())
            died = next((w for w in workers if w.exitcode not in (None, 0)), None)
            if died is not None:  # (its report, if it made one, may have arrived since the check above)
                end(errors.get() if not errors.empty() else f"an encoding process died (exit status {died.exitcode})")
            time.sleep(WATCH_INTERVAL_S)

    signal.signal(signal.SIGTERM, lambda signum, frame: end("interrupted"))
    ffcv_writer.Process = start_worker  # only in this child: lets it see the workers ffcv starts
    threading.Thread(target=watch, daemon=True).start()
    try:
        writer.from_indexed_dataset(Reporting(dataset, errors))
    except BaseException as error:  # a full disk, ...: everything ffcv's own process can fail with
        end(f"{type(error).__name__}: {' '.join(str(error).split())}")
    end(None)


def reporting(target: Any, errors: Any) -> Any:
    """ffcv's worker function, reporting why it failed (a full disk...) in one line instead of a traceback."""

    def run(*args: Any) -> None:
        try:
            target(*args)
        except BaseException as error:
            errors.put(f"{type(error).__name__}: {' '.join(str(error).split())}")
            os._exit(1)

    return run


class Reporting:
    """The dataset as ffcv's workers see it: an image that cannot be read is reported at once, and the
    worker exits (an exception would first wait, in ffcv, for the worker's turn to write its page)."""

    def __init__(self, dataset: ImageFolder, errors: Any) -> None:
        self.dataset = dataset
        self.errors = errors

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except AdvconfError as error:
            self.errors.put(str(error))
            os._exit(1)


def write_splits(
    src: Path,
    out: Path,
    max_resolution: int | None = 256,
    jpeg_quality: int = 90,
    num_workers: int = -1,
    write_mode: WriteMode = "jpg",
) -> dict[str, int]:
    """Write `out/train.beton` and `out/val.beton` from `src/train` and `src/val` (whichever exist)."""
    splits = [s for s in SPLITS if (src / s).is_dir()]
    if not splits:
        raise AdvconfError(f"{src} has neither a train/ nor a val/ directory (ImageFolder layout: {src}/train/<class>/*.jpg)")
    classes = {s: sorted(p.name for p in (src / s).iterdir() if p.is_dir()) for s in splits}
    if len(splits) == 2 and classes["train"] != classes["val"]:
        # ImageFolder numbers classes by sorted folder name: different sets would mislabel val.
        only = set(classes["train"]) ^ set(classes["val"])
        raise AdvconfError(f"{src}/train and {src}/val must have the same class folders; only in one: {sorted(only)[:10]}")
    return {
        s: write_beton(src / s, out / f"{s}.beton", max_resolution, jpeg_quality, num_workers, write_mode)
        for s in splits
    }
