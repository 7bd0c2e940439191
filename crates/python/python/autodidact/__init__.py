"""autodidact from Python: pre-train an encoder on unlabeled data, embed, evaluate at label budgets.

    import autodidact
    run = autodidact.pretrain(method="simclr", data="digits/", minutes=2, out="runs/digits")
    z = run.embed(images)          # N x C x H x W uint8 -> N x D float32
    print(run.evaluate("digits/", protocols=["knn", "linear"], labels_per_class=[1, 10]))

Every call runs the same code as the `autodidact` command line, with the interpreter released;
errors raise :class:`AutodidactError` carrying the line the command line prints.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _autodidact
from ._autodidact import AutodidactError

__all__ = ["AutodidactError", "Run", "pretrain", "tqdm_progress"]

PathLike = Union[str, "os.PathLike[str]"]
Progress = Callable[[Dict[str, Any]], None]


def pretrain(
    method: str,
    data: PathLike,
    *,
    out: PathLike,
    minutes: Optional[float] = None,
    progress: Union[Progress, bool, None] = True,
    **settings: Any,
) -> "Run":
    """Pre-trains `method` on `data` into the run folder `out` and returns the run.

    `settings` are the command line's flags with underscores (`batch_size=64`, `epochs=1`,
    `seed=3`, `force=True`). `progress` hears every step as a dict (`step`, `total`, `loss`,
    `lr`, `per_second`, `unit`, `eta_seconds`, `held_out_loss`); `True` draws a tqdm bar when
    tqdm is installed and prints a line every 10 s otherwise; `False` or `None` is silent. An
    exception from `progress` (Ctrl-C included) stops the run after a checkpoint, which
    `Run.open(out).resume()` continues, and is raised here.
    """
    args = ["pretrain", "--method", method, "--data", os.fspath(data), "--out", os.fspath(out)]
    if minutes is not None:
        args += ["--minutes", str(minutes)]
    args += _flags(settings)
    if progress is True:
        progress = tqdm_progress()
    _autodidact.run_verb(args, progress or None)
    return Run(out)


class Run:
    """A finished (or stopped) run folder written by `pretrain`."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)

    @classmethod
    def open(cls, path: PathLike) -> "Run":
        """The run in `path`; fails unless it holds a `config.toml`."""
        if not (Path(path) / "config.toml").is_file():
            raise AutodidactError(f"{os.fspath(path)}: not a run folder (no config.toml)")
        return cls(path)

    def __repr__(self) -> str:
        return f"Run({os.fspath(self.path)!r})"

    def resume(self, progress: Union[Progress, bool, None] = True) -> "Run":
        """Continues a stopped run from its newest checkpoint, with the settings it started with."""
        if progress is True:
            progress = tqdm_progress()
        _autodidact.run_verb(
            ["pretrain", "--out", os.fspath(self.path), "--resume"], progress or None
        )
        return self

    def embed(self, x: Any) -> np.ndarray:
        """The run's embeddings of `x`, one float32 row per sample (the rows `autodidact embed`
        writes for the same samples).

        `x` is a NumPy array of images (`N x C x H x W`: uint8, or floats in [0, 1] which are
        rounded to 8 bits as image files are), of series (`N x T` or `N x C x T`, float), a
        list of audio clips (1-D float arrays in [-1, 1] at the run's sample rate), a list of
        file paths (images or WAVs: `pathlib.Path`s, or strings except for text and
        image-caption runs), or a list of strings (texts for a text run, captions for an
        image-caption run). An image-caption or image-speech run puts images and their
        partners into its shared space (unit rows).
        """
        run = os.fspath(self.path)
        if isinstance(x, np.ndarray):
            if x.ndim == 4:
                pixels = _as_pixels(x)
                raw, n, dim = _autodidact.embed_images(run, pixels.tobytes(), list(pixels.shape))
            elif x.ndim in (2, 3):
                series = np.asarray(x, dtype="<f4")
                if series.ndim == 2:
                    series = series[:, None, :]
                series = np.ascontiguousarray(series)
                raw, n, dim = _autodidact.embed_series(run, series.tobytes(), list(series.shape))
            else:
                raise AutodidactError(
                    f"x: expected N x C x H x W images or N x [C x] T series, got {x.ndim} dimensions"
                )
        elif isinstance(x, (str, os.PathLike)):
            raise AutodidactError(
                f"x: {os.fspath(x)!r} is one path; pass a list of files, or use the data set "
                "through `autodidact embed --data`"
            )
        else:
            items = list(x)
            if all(isinstance(i, np.ndarray) for i in items) and items:
                clips = [np.ascontiguousarray(i, dtype="<f4").reshape(-1).tobytes() for i in items]
                raw, n, dim = _autodidact.embed_clips(run, clips)
            elif items and all(isinstance(i, os.PathLike) for i in items):
                raw, n, dim = _autodidact.embed_files(run, [os.fspath(i) for i in items])
            elif all(isinstance(i, str) for i in items):
                # Texts for a text run, file paths for the others.
                raw, n, dim = _autodidact.embed_strings(run, items)
            else:
                raise AutodidactError(
                    "x: expected an array, a list of arrays, of file paths or of strings"
                )
        return np.frombuffer(raw, dtype="<f4").reshape(n, dim).copy()

    def tokenize(self, texts: Sequence[str]) -> Tuple[np.ndarray, np.ndarray]:
        """A text run's inputs for `texts`: token ids (int64) and the valid mask (float32), both
        `N x T`, as its encoder and its exported ONNX graph read them."""
        ids, valid, (n, t) = _autodidact.tokenize(os.fspath(self.path), list(texts))
        return (
            np.frombuffer(ids, dtype="<i8").reshape(n, t).copy(),
            np.frombuffer(valid, dtype="<f4").reshape(n, t).copy(),
        )

    def export(self, format: str = "onnx", out: Optional[PathLike] = None) -> Path:
        """Writes the run's encoder for another runtime (`autodidact export`): `onnx` an ONNX
        graph (by default `<run>/encoder.onnx`), `torch` a state dict (by default
        `<run>/encoder.pt`) and the PyTorch module file beside it (`.py`); returns the path."""
        suffix = "pt" if format == "torch" else format
        out = Path(out) if out is not None else self.path / f"encoder.{suffix}"
        _autodidact.run_verb(
            ["export", "--run", os.fspath(self.path), "--format", format, "--out", os.fspath(out)]
        )
        return out

    def evaluate(
        self,
        data: PathLike,
        *,
        protocols: Optional[Sequence[str]] = None,
        labels_per_class: Optional[Sequence[Union[int, str]]] = None,
        **settings: Any,
    ) -> Dict[str, Any]:
        """Evaluates the run on the labelled `data` at label budgets: the records of
        `autodidact eval --json` (a dict with `results`, one record per protocol and budget).
        `settings` are eval's other flags (`baseline=True`, `knn_k=20`, ...)."""
        with tempfile.TemporaryDirectory(prefix="autodidact-eval-") as tmp:
            report = Path(tmp) / "results.json"
            args = ["eval", "--run", os.fspath(self.path), "--data", os.fspath(data)]
            args += ["--json", str(report)]
            if protocols is not None:
                args += ["--protocol", ",".join(protocols)]
            if labels_per_class is not None:
                args += ["--labels-per-class", ",".join(str(k) for k in labels_per_class)]
            args += _flags(settings)
            _autodidact.run_verb(args, None)
            return json.loads(report.read_text())


def tqdm_progress() -> Progress:
    """A progress callback: a tqdm bar when tqdm is installed, else a line every 10 s."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _lines()
    bar = tqdm(unit="step")

    def update(report: Dict[str, Any]) -> None:
        if report["total"] is not None and bar.total != report["total"]:
            bar.total = report["total"]
        bar.n = report["step"]
        bar.set_postfix(loss=f"{report['loss']:.4f}", refresh=False)
        bar.refresh()
        if report["total"] is not None and report["step"] >= report["total"]:
            bar.close()

    return update


def _lines() -> Progress:
    last = [0.0]

    def update(report: Dict[str, Any]) -> None:
        now = time.monotonic()
        if now - last[0] >= 10.0:
            last[0] = now
            total = report["total"] if report["total"] is not None else "?"
            print(f"step {report['step']}/{total}  loss {report['loss']:.4f}", file=sys.stderr)

    return update


def _flags(settings: Dict[str, Any]) -> List[str]:
    """`batch_size=64` -> `--batch-size 64`; `force=True` -> `--force`; False/None are left out."""
    args: List[str] = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            args += [flag, ",".join(str(v) for v in value)]
        else:
            args += [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return args


def _as_pixels(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise AutodidactError(f"x: images must be uint8 or float in [0, 1], got {x.dtype}")
    if x.size and (np.nanmin(x) < 0.0 or np.nanmax(x) > 1.0 or np.isnan(x).any()):
        raise AutodidactError("x: float images must hold values in [0, 1]")
    return np.ascontiguousarray(np.rint(x * 255.0).astype(np.uint8))

