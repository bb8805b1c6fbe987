"""The flags of ``python -m pipeline`` and its YAML recipe, both made from ``config.py``.

Parsed before Beam is imported, so a mistake is reported at once: a flag neither this
toolkit nor Beam knows is an error with the nearest known flag (Beam would ignore it and
build the whole source), not a silently default setting.
"""

from __future__ import annotations

import argparse
import difflib
from dataclasses import replace

from pipeline.config import BuildConfig, RunOptions, options, without_credentials
from pipeline.tts import REMOTE_ENGINES

GROUPS = {"sources": "sources", "output": "output", "build": "the whole build", "rewrite": "stage 1, rewrite",
          "split": "stage 2, split", "llm": "the LLM endpoint (stages 1-2, judge)",
          "interleave": "stage 3, interleave", "speech": "stage 4, speech"}
RECIPE = "recipe.yaml"


class _Parser(argparse.ArgumentParser):
    """argparse, with a mistake said in one line rather than after the whole usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _argument_type(parse):
    """argparse's ``type``: a parser's ValueError becomes a one-line usage error."""
    if parse in (int, float, None):
        return parse

    def typed(text: str):
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    typed.__name__ = parse.__name__
    return typed


def _flag(f, how) -> str:
    return how.flag or f.name


def _is_switch(f) -> bool:
    return f.type in (bool, "bool")


def parser() -> argparse.ArgumentParser:
    """Every setting of ``RunOptions`` and ``BuildConfig`` as a flag, grouped by stage; only
    the flags given are set (the rest come from ``--config`` or the defaults)."""
    ap = _Parser(
        prog="python -m pipeline", argument_default=argparse.SUPPRESS,
        description="Turn written math problems into thinking-in-speaking training data "
                    "(spoken question, silent reasoning, interleaved response, speech). "
                    "Flags not listed here are Beam pipeline options (--runner, ...).",
    )
    ap.add_argument("--config", metavar=RECIPE,
                    help="a YAML build recipe: any flag below as a key (without --); flags given here "
                         f"override it; the resolved recipe of every run is written as OUTPUT/{RECIPE}")
    groups = {name: ap.add_argument_group(title) for name, title in GROUPS.items()}
    for cls in (RunOptions, BuildConfig):
        for f, how in options(cls):
            shown = f.default if not isinstance(f.default, tuple) else ",".join(f.default)
            help_text = how.help + (f" (default {shown})" if shown not in ("", None, False, 0) else "")
            kwargs = {"dest": f.name, "help": help_text, "metavar": how.metavar or _flag(f, how).upper()}
            if _is_switch(f):
                kwargs["action"] = "store_true"
                kwargs.pop("metavar")
            elif how.many == "append":
                kwargs["action"] = "append"
            elif how.many == "+":
                kwargs["nargs"] = "+"
            if how.choices:
                kwargs["choices"] = list(how.choices)
            if how.parse and not how.many:
                kwargs["type"] = _argument_type(how.parse)
            groups[how.group].add_argument(f"--{_flag(f, how)}", **kwargs)
    return ap


def read_recipe(path: str) -> dict:
    """A YAML build recipe as settings by field name; each value is checked as its flag's
    would be, and an unknown key is an error that names the known ones."""
    import yaml
    from apache_beam.io.filesystems import FileSystems  # a recipe may live in gs:// or s3://

    try:
        with FileSystems.open(path) as handle:
            recipe = yaml.safe_load(handle.read()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise SystemExit(f"--config {path}: {error}") from None
    if not isinstance(recipe, dict):
        raise SystemExit(f"--config {path}: a recipe is a mapping of flag names to values")
    known = {_flag(f, how): (f, how) for cls in (RunOptions, BuildConfig) for f, how in options(cls)}
    settings = {}
    for key, value in recipe.items():
        if key not in known:
            raise SystemExit(f"--config {path}: unknown key {key!r}; the keys are the flags of "
                             f"python -m pipeline --help: {', '.join(sorted(known))}")
        f, how = known[key]
        if isinstance(f.default, tuple):  # a list: a YAML list, or one value as its flag takes it
            if isinstance(value, list):
                settings[f.name] = tuple(str(v) for v in value)
            else:
                settings[f.name] = how.parse(str(value)) if how.parse else (str(value),)
            continue
        if isinstance(value, bool) != _is_switch(f) or isinstance(value, (list, dict)):
            wanted = "true or false" if _is_switch(f) else "one value"
            raise SystemExit(f"--config {path}: {key} takes {wanted}, got {value!r}")
        if how.choices and value not in how.choices:
            raise SystemExit(f"--config {path}: {key} is one of {', '.join(how.choices)}, got {value!r}")
        try:
            settings[f.name] = how.parse(str(value)) if how.parse and value is not None else value
        except ValueError as error:
            raise SystemExit(f"--config {path}: {key}: {error}") from None
    return settings


def resolve(argv: list[str] | None) -> tuple[RunOptions, BuildConfig, list[str]]:
    """The run's settings: defaults, then the recipe, then the flags given; and Beam's flags."""
    ap = parser()
    given, beam_args = ap.parse_known_args(argv)
    mistake = unknown_flag(beam_args, [o for action in ap._actions for o in action.option_strings])
    if mistake:
        ap.error(mistake)
    settings = vars(given)
    recipe = settings.pop("config", None)
    settings = {**(read_recipe(recipe) if recipe else {}), **settings}
    settings = {name: tuple(value) if isinstance(value, list) else value for name, value in settings.items()}
    run_names = {f.name for f, _ in options(RunOptions)}
    run_options = RunOptions(**{k: v for k, v in settings.items() if k in run_names})
    if not run_options.output:
        raise SystemExit("--output is required (a flag, or output: in the --config recipe)")
    config = BuildConfig(**{k: v for k, v in settings.items() if k not in run_names})
    remote = "openai" in (config.llm, config.judge)
    llm_cache_dir = "" if run_options.no_cache or not remote else (
        run_options.cache_dir or f"{run_options.output.rstrip('/')}/llm_cache")
    llm_batch_dir = f"{run_options.output.rstrip('/')}/llm_batch" if config.llm_batch and remote else ""
    tts_cache_dir = "" if run_options.no_cache or config.tts not in REMOTE_ENGINES else (
        f"{run_options.cache_dir.rstrip('/')}/speech" if run_options.cache_dir
        else f"{run_options.output.rstrip('/')}/tts_cache")
    return run_options, replace(config, llm_cache_dir=llm_cache_dir, llm_batch_dir=llm_batch_dir,
                                tts_cache_dir=tts_cache_dir), beam_args


def unknown_flag(beam_args: list[str], own: list[str]) -> str:
    """What is wrong with the flags left for Beam ('' when Beam knows them all): Beam drops
    a flag it does not know with a warning, so ``--limt 5`` would build the whole source."""
    from apache_beam.options.pipeline_options import PipelineOptions

    parsers: list[argparse.ArgumentParser] = []  # the parser Beam reads its options with
    PipelineOptions([]).get_all_options(add_extra_args_fn=parsers.append)
    _, unknown = parsers[0].parse_known_args(beam_args)
    flags = [arg.split("=", 1)[0] for arg in unknown if arg.startswith("-")]
    if not flags:
        return ""
    known = own + [o for action in parsers[0]._actions for o in action.option_strings]
    nearest = difflib.get_close_matches(flags[0], known, n=1)
    return (f"unknown flag {flags[0]}" + (f" (did you mean {nearest[0]}?)" if nearest else "")
            + "; flags not listed in --help must be Beam pipeline options")


def resolved_recipe(run_options: RunOptions, config: BuildConfig) -> str:
    """Every setting of the run as a recipe (flag names, YAML), to rerun it with ``--config``;
    a URL keeps no password or query, as in ``summary.json``."""
    import yaml

    recipe = {}
    for settings in (run_options, config):
        for f, how in options(type(settings)):
            value = getattr(settings, f.name)
            value = without_credentials(value) if isinstance(value, str) else value
            recipe[_flag(f, how)] = list(value) if isinstance(value, tuple) else value
    return yaml.safe_dump(recipe, sort_keys=False)


