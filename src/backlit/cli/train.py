"""`backlit train`: train a network on a 2-D dataset in the terminal and write plots.

The loop itself is :func:`backlit.lab.fit.fit`, on the same :class:`backlit.lab.fit.Trainer` step
the playground trains with.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from ..lab import data, gradflow
from ..lab.fit import (ACTIVATIONS, HISTORY_KEYS, OPTIMIZERS, REGULARIZATIONS, FitResult,  # noqa: F401
                       build_model, data_loss, default_loss, evaluate, fit, n_outputs, predict)
from .. import nn


# --------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------

class UsageError(ValueError):
    """A bad command-line value: reported as one line on stderr, exit code 2."""


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `backlit train` options to ``parser`` (argparse errors become one line, exit 2)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the example on one line
    parser.description = ("Train a network on a 2-D dataset with a progress bar, then write\n"
                          "boundary.png, loss.png, model.json and metrics.json to --out\n"
                          "(and model.py, model.onnx, training.gif with --export and --gif).")
    parser.epilog = ("example:\n  backlit train --dataset spiral --hidden 8,8 --activation tanh "
                     "--lr 0.01 --epochs 400 --out runs/spiral")
    a = parser.add_argument
    a("--dataset", metavar="NAME", default="spiral",
      help=f"one of: {', '.join(data.DATASETS)} (default: %(default)s)")
    a("--hidden", metavar="SIZES", default="8,8",
      help="hidden layer sizes, comma separated; '' for none (default: %(default)s)")
    a("--activation", metavar="NAME", default="tanh",
      help=f"{', '.join(ACTIVATIONS)} (default: %(default)s)")
    a("--lr", metavar="RATE", type=float, default=0.03, help="learning rate (default: %(default)s)")
    a("--batch", metavar="N", type=int, default=10, help="mini-batch size (default: %(default)s)")
    a("--epochs", metavar="N", type=int, default=300,
      help="passes over the training set (default: %(default)s)")
    a("--seed", metavar="N", type=int, default=1,
      help="seed for the data, the split and the weights (default: %(default)s)")
    a("--loss", metavar="NAME", default=None,
      help="bce, hinge or mse (binary); cross_entropy (multiclass); mse (regression) "
           "(default: bce, cross_entropy or mse, by dataset)")
    a("--optimizer", metavar="NAME", default="adam",
      help=f"{', '.join(OPTIMIZERS)} (default: %(default)s)")
    a("--regularization", metavar="KIND", default="none",
      help="penalty on the weights: none, l1 or l2 (default: %(default)s)")
    a("--reg-rate", metavar="RATE", type=float, default=0.0,
      help="regularization rate (default: %(default)s)")
    a("--features", metavar="NAMES", default="x1,x2",
      help=f"comma-separated input features from: {', '.join(data.FEATURES)} (default: %(default)s)")
    a("--noise", metavar="X", type=float, default=0.0,
      help=f"0 to {data.MAX_NOISE}: TF Playground's noise slider / 100 (default: %(default)s)")
    a("--train-ratio", metavar="R", type=float, default=0.5,
      help="share of the points used for training (default: %(default)s)")
    a("--classes", metavar="K", type=int, default=None,
      help="classes of a multiclass dataset, 3 to 5 (default: 3)")
    a("--n-points", metavar="N", type=int, default=500, help="number of points (default: %(default)s)")
    a("--init", metavar="NAME", default="xavier",
      help=f"weight initialisation: {', '.join(nn.INITS)} (default: %(default)s)")
    a("--data", metavar="FILE.csv", default=None,
      help="train on the points of a CSV file, x1,x2,label or x1,x2,y, instead of --dataset "
           "(--noise and --n-points are then not used)")
    a("--rescale", action="store_true",
      help="with --data: scale the points about the origin to fit the plane [-6, 6]")
    a("--export", metavar="FORMATS", default="",
      help="also write the trained model as torch (model.py, a PyTorch script) and/or onnx "
           "(model.onnx), comma separated")
    a("--gif", action="store_true",
      help="also write training.gif: the decision boundary and the loss during training")
    a("--out", metavar="DIR", default="runs/train", help="output folder (default: %(default)s)")
    a("--quiet", action="store_true", help="no progress bar")

    prog = parser.prog

    def one_line_error(message: str):
        print(f"{prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    parser.error = one_line_error  # argparse's default prints the usage too: keep it to one line

    # Unknown options would otherwise be reported by the top-level parser, usage and all.
    parse_known = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        namespace, extras = parse_known(args, namespace)
        if extras:
            one_line_error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    parser.parse_known_args = parse_known_args


def _hidden(text: str) -> list[int]:
    text = text.strip()
    if text.lower() in ("", "none"):
        return []
    sizes = []
    for part in text.split(","):
        try:
            size = int(part)
        except ValueError:
            raise UsageError(f"--hidden must be comma-separated integers like 8,8 (got {text!r})") from None
        if not 1 <= size <= 256:
            raise UsageError(f"--hidden sizes must be between 1 and 256 (got {size})")
        sizes.append(size)
    return sizes


def parse_config(args) -> dict:
    """Validate the parsed arguments; return a plain config dict or raise UsageError.

    With ``--data`` the CSV is read and checked here (a bad file is a usage error listing its bad
    lines); its kind and classes take the place of the dataset's, and ``dataset`` is the file's name.
    """
    points = getattr(args, "data", None)
    if points is not None:
        from ..playground import csvdata

        try:
            csv = csvdata.load_csv(points, classes=args.classes, rescale=getattr(args, "rescale", False),
                                   max_rows=100_000)
        except OSError as e:
            raise UsageError(f"cannot read --data {points!r}: {e.strerror or e}") from None
        except ValueError as e:
            raise UsageError(str(e)) from None
        if len(csv) < max(csv.classes or 0, 4):
            raise UsageError(f"--data {points!r} has {len(csv)} points; at least "
                             f"{max(csv.classes or 0, 4)} are needed to train and test")
        spec = data.DatasetSpec(csv.name, csv.kind, csv.name, f"points from {points}", None,
                                csv.classes, csv.classes, csv.classes)
        # from here on the file stands for the dataset: its name, its classes, its size
        args = argparse.Namespace(**{**vars(args), "dataset": csv.name, "classes": None,
                                     "n_points": len(csv)})
    elif args.dataset not in data.DATASETS:
        raise UsageError(f"unknown dataset {args.dataset!r}; choose one of: {', '.join(data.DATASETS)}")
    else:
        spec = data.DATASETS[args.dataset]
    formats = [f.strip().lower() for f in (getattr(args, "export", "") or "").split(",") if f.strip()]
    for f in formats:
        if f not in ("torch", "onnx"):
            raise UsageError(f"unknown --export format {f!r}; choose torch, onnx or torch,onnx")
    if "onnx" in formats:
        try:
            import onnx  # noqa: F401  (checked now, not after training)
        except ImportError:
            raise UsageError("--export onnx needs the onnx package: pip install onnx "
                             "(or pip install 'backlit[export]')") from None

    def check(ok: bool, message: str):
        if not ok:
            raise UsageError(message)

    check(args.activation in ACTIVATIONS,
          f"unknown activation {args.activation!r}; choose one of: {', '.join(ACTIVATIONS)}")
    check(math.isfinite(args.lr) and args.lr > 0, f"--lr must be a positive number (got {args.lr})")
    check(args.batch >= 1, f"--batch must be at least 1 (got {args.batch})")
    check(args.epochs >= 1, f"--epochs must be at least 1 (got {args.epochs})")
    check(args.seed >= 0, f"--seed must be 0 or more (got {args.seed})")
    check(args.optimizer in OPTIMIZERS,
          f"unknown optimizer {args.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
    check(args.regularization in REGULARIZATIONS,
          f"unknown regularization {args.regularization!r}; choose one of: none, l1, l2")
    check(math.isfinite(args.reg_rate) and args.reg_rate >= 0,
          f"--reg-rate must be 0 or more (got {args.reg_rate})")
    check(math.isfinite(args.noise) and 0 <= args.noise <= data.MAX_NOISE,
          f"--noise must be between 0 and {data.MAX_NOISE} (got {args.noise})")
    check(math.isfinite(args.train_ratio) and 0 < args.train_ratio < 1,
          f"--train-ratio must be between 0 and 1, exclusive (got {args.train_ratio})")
    check(args.init in nn.INITS, f"unknown init {args.init!r}; choose one of: {', '.join(nn.INITS)}")
    if args.classes is not None:
        multi = ", ".join(n for n, s in data.DATASETS.items() if s.kind == "multiclass")
        check(spec.kind == "multiclass", f"--classes applies to multiclass datasets only ({multi})")
        check(spec.min_classes <= args.classes <= spec.max_classes,
              f"--classes must be between {spec.min_classes} and {spec.max_classes} (got {args.classes})")
    classes = spec.classes if args.classes is None else args.classes
    check(max(classes or 0, 4) <= args.n_points <= 100_000,
          f"--n-points must be between {max(classes or 0, 4)} and 100000 (got {args.n_points})")
    loss = args.loss or default_loss(spec.kind)
    check(loss in nn.losses_for(spec.kind),
          f"loss {loss!r} does not fit dataset {args.dataset!r} ({spec.kind}); choose one of: "
          f"{', '.join(nn.losses_for(spec.kind))}")
    try:
        features = data.check_features(args.features)
    except ValueError as e:
        raise UsageError(str(e)) from None
    return dict(
        dataset=args.dataset, kind=spec.kind, classes=classes, hidden=_hidden(args.hidden),
        activation=args.activation, lr=args.lr, batch=args.batch, epochs=args.epochs, seed=args.seed,
        loss=loss, optimizer=args.optimizer, regularization=args.regularization,
        reg_rate=args.reg_rate, features=features, noise=args.noise, train_ratio=args.train_ratio,
        n_points=args.n_points, init=args.init, data=points,
        rescale=bool(getattr(args, "rescale", False)), export=formats, gif=bool(getattr(args, "gif", False)),
    )


def _fmt(x) -> str:
    if x is None:
        return "-"
    return f"{x:.2e}" if 0 < abs(x) < 1e-3 or abs(x) >= 1e5 else f"{x:.4f}"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def run_train(args, parser=None) -> int:
    """Run `backlit train`; return the exit code: 0 done, 1 diverged (files still written) or
    cannot write, 2 bad arguments, 130 interrupted by Ctrl-C (files written from the last epoch)."""
    prog = parser.prog + " train" if parser is not None else "backlit train"
    try:
        cfg = parse_config(args)
        os.makedirs(args.out, exist_ok=True)
    except UsageError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        reason = "it is a file, not a folder" if os.path.isfile(args.out) else e.strerror or e
        print(f"{prog}: error: cannot create output folder {args.out!r}: {reason}", file=sys.stderr)
        return 2

    if cfg["data"] is not None:  # read and checked by parse_config: this read gives the same points
        from ..playground import csvdata

        ds = csvdata.load_csv(cfg["data"], classes=cfg["classes"], rescale=cfg["rescale"], max_rows=100_000)
    else:
        ds = data.make(cfg["dataset"], n=cfg["n_points"], noise=cfg["noise"], seed=cfg["seed"],
                       classes=cfg["classes"])
    Xtr, ytr, Xte, yte = data.split(ds, train_ratio=cfg["train_ratio"], seed=cfg["seed"])
    model = build_model(cfg["features"], cfg["hidden"], cfg["kind"], cfg["classes"],
                        cfg["activation"], seed=cfg["seed"], init=cfg["init"])
    model.meta["dataset"] = cfg["dataset"]

    recorder = None
    if cfg.get("gif"):
        from . import animation

        recorder = animation.Recorder(model, cfg["epochs"])
    result = _fit_with_progress(model, Xtr, ytr, Xte, yte, cfg, quiet=getattr(args, "quiet", False),
                                callback=recorder)
    try:
        written = _write_outputs(args.out, model, result, cfg, (Xtr, ytr, Xte, yte), recorder)
    except (OSError, nn.ModelFileError) as e:
        print(f"{prog}: error: cannot write to {args.out!r}: {getattr(e, 'strerror', None) or e}",
              file=sys.stderr)
        return 1
    final = result.final()
    summary = (f"epoch {result.epochs_run}: train loss {_fmt(final.get('train_loss'))}, "
               f"test loss {_fmt(final.get('test_loss'))}")
    if cfg["kind"] != "regression":
        summary += (f", train accuracy {_pct(final.get('train_accuracy'))}, "
                    f"test accuracy {_pct(final.get('test_accuracy'))}")
    try:
        print(summary)
        print(f"wrote {', '.join(os.path.join(args.out, f) for f in written)}", flush=True)
    except BrokenPipeError:  # e.g. `backlit train ... | head -1`: the reader has gone, the files are written
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
    if result.diverged:
        print(f"{prog}: training diverged at epoch {result.diverged_epoch} (the loss became NaN or "
              f"infinite); kept the model from epoch {result.epochs_run}. "
              f"Try a smaller learning rate than --lr {cfg['lr']:g}.", file=sys.stderr)
        return 1
    if result.interrupted:
        print(f"{prog}: interrupted; kept the model from epoch {result.epochs_run}.", file=sys.stderr)
        return 130
    return 0


def _write_outputs(out, model, result, cfg, split, recorder=None) -> list[str]:
    """Write the output files; return their names (OUTPUT_FILES, then any --export and --gif files)."""
    from . import plots  # matplotlib takes a while to import: only when there is something to draw

    Xtr, ytr, Xte, yte = split
    final = result.final()
    nn.save(model, os.path.join(out, "model.json"))
    metrics = {
        "config": cfg,
        "epochs_run": result.epochs_run,
        "diverged": result.diverged,
        "diverged_epoch": result.diverged_epoch,
        "interrupted": result.interrupted,
        "final": final,
        "history": result.history,
        "gradflow": {"layers": gradflow.layer_names(len(model.linears)),
                     "note": "history.delta_norm / grad_W_norm: per epoch (null at epoch 0), one value "
                             "per layer: the epoch's mean of ‖δ‖ (per sample) and ‖dL/dW‖ over its steps"},
    }
    with open(os.path.join(out, "metrics.json"), "w", encoding="utf-8") as f:
        f.write(metrics_json(metrics))
    title = f"{cfg['dataset']} · hidden {cfg['hidden'] or 'none'} · epoch {result.epochs_run}"
    if cfg["features"] != data.DEFAULT_FEATURES:
        title = f"{title}\nfeatures {', '.join(cfg['features'])}"
    if final.get("test_accuracy") is not None:
        title += f" · test accuracy {_pct(final['test_accuracy'])}"
    plots.plot_boundary(model, Xtr, ytr, Xte, yte, kind=cfg["kind"], classes=cfg["classes"],
                        features=cfg["features"], path=os.path.join(out, "boundary.png"),
                        title=title, threshold=nn.loss_class(cfg["loss"]).threshold)
    plots.plot_loss(result.history, path=os.path.join(out, "loss.png"), title=cfg["dataset"])
    plots.plot_gradflow(result.history, path=os.path.join(out, "gradflow.png"),
                        title=f"{cfg['dataset']} · {cfg['activation']} · init {cfg['init']}")
    written = list(OUTPUT_FILES)
    if cfg.get("export") or cfg.get("gif"):
        from . import animation
        from ..playground import export

        if "torch" in cfg["export"]:
            with open(os.path.join(out, "model.py"), "w", encoding="utf-8") as f:
                f.write(export.pytorch_script(cfg, model, Xtr, ytr))
            written.append("model.py")
        if "onnx" in cfg["export"]:
            with open(os.path.join(out, "model.onnx"), "wb") as f:
                f.write(export.onnx_bytes(model, cfg["features"], cfg["loss"]))
            written.append("model.onnx")
        if cfg["gif"]:
            recorder.finish(result)
            final = model.state_dict()
            with open(os.path.join(out, "training.gif"), "wb") as f:
                f.write(animation.render_gif(model, recorder.kept, result.history, cfg, split))
            model.load_state_dict(final)
            written.append("training.gif")
    return written


OUTPUT_FILES = ["boundary.png", "loss.png", "gradflow.png", "model.json", "metrics.json"]


def metrics_json(metrics: dict) -> str:
    """Indented JSON, except that each history series stays on one line (easy to read and diff)."""
    series = {k: json.dumps(v, allow_nan=False) for k, v in metrics["history"].items()}
    body = json.dumps({**metrics, "history": {k: f"@{k}@" for k in series}}, indent=2,
                      allow_nan=False)
    for k, text in series.items():
        body = body.replace(f'"@{k}@"', text)
    return body + "\n"


def _fit_with_progress(model, Xtr, ytr, Xte, yte, cfg, quiet=False, callback=None) -> FitResult:
    """``fit`` with a progress bar; ``callback`` (e.g. an ``animation.Recorder``) also sees each epoch."""
    kwargs = dict(kind=cfg["kind"], loss=cfg["loss"], features=cfg["features"],
                  optimizer=cfg["optimizer"], lr=cfg["lr"], batch_size=cfg["batch"],
                  epochs=cfg["epochs"], regularization=cfg["regularization"],
                  reg_rate=cfg["reg_rate"], seed=cfg["seed"], catch_interrupt=True)
    if quiet:
        return fit(model, Xtr, ytr, Xte, yte, callback=callback, **kwargs)

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    def acc(part: str) -> str:
        return f" acc {{task.fields[{part}_acc]}}" if cfg["kind"] != "regression" else ""

    columns = [
        TextColumn("epoch {task.completed}/{task.total}"),
        BarColumn(bar_width=12, complete_style="blue", finished_style="blue"),
        TextColumn("[blue]train[/] loss {task.fields[train_loss]}" + acc("train")),
        TextColumn("[magenta]test[/] loss {task.fields[test_loss]}" + acc("test")),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("train", total=cfg["epochs"], train_loss="-", test_loss="-",
                                 train_acc="-", test_acc="-")

        def update(entry):
            progress.update(task, completed=entry["epoch"], train_loss=_fmt(entry["train_loss"]),
                            test_loss=_fmt(entry["test_loss"]), train_acc=_pct(entry["train_accuracy"]),
                            test_acc=_pct(entry["test_accuracy"]))
            if callback is not None:
                callback(entry)

        return fit(model, Xtr, ytr, Xte, yte, callback=update, **kwargs)
