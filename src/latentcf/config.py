"""Load and validate the workflow configuration against the JSON schemas in workflow/schemas/.

Validation happens once, when the Snakefile is parsed: defaults are filled in, and every
problem is reported at once with the key path, the bad value, the allowed values and the
closest valid one ("did you mean ...?"), before any job starts.

The schemas are the one source of defaults: package code that is called without the workflow
(tests, notebooks, benchmarks) gets a section's defaults from :func:`section_defaults` or
validates a partial section with :func:`validate_section`; no module keeps its own copy.
The schema files ship inside the package (``latentcf/schemas`` links to ``workflow/schemas``).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from latentcf.errors import LatentCFError, did_you_mean
from latentcf.interventions import intervention_problems
from latentcf.models.settings import model_problems
from latentcf.preprocess.settings import settings_problems as preprocess_settings_problems
from latentcf.scm.graph import graph_problems

ROOT_SCHEMA = "config.schema.yaml"


class ConfigValidationError(LatentCFError):
    """One or more configuration problems; `problems` holds one message per problem."""

    def __init__(self, problems: list[str], source: str = "config"):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid {source} ({len(problems)} problem(s)):\n{lines}")


def default_schema_dir() -> Path:
    """The schema folder shipped with the package (a link to the checkout's workflow/schemas)."""
    return Path(__file__).resolve().parent / "schemas"


def read_yaml(path: str | Path) -> Any:
    """The parsed YAML file `path`, read with libyaml where PyYAML has it: the pure-Python
    parser took 0.12 s for the schema files, which nearly every job validates against."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)


@functools.lru_cache(maxsize=4)
def load_registry(schema_dir: Path) -> Registry:
    """All *.schema.yaml files of `schema_dir`, addressable by file name in `$ref`."""
    resources = []
    for path in sorted(Path(schema_dir).glob("*.schema.yaml")):
        contents = read_yaml(path)
        # No "$schema" inside: it would make jsonschema switch to a plain validator (without
        # default filling) inside every $ref'd section.
        contents.pop("$schema", None)
        resources.append((path.name, Resource(contents=contents, specification=DRAFT202012)))
    return Registry().with_resources(resources)


def _with_defaults(validator_class: type) -> type:
    """A validator class that fills `default` values in before validating each object."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # noqa: ANN001
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if name not in instance:
                    default = _resolve(validator, subschema).get("default")
                    if default is not None or "default" in subschema:
                        instance[name] = copy.deepcopy(default)
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _resolve(validator: Any, subschema: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return `subschema`, merged with its `$ref` target so that a local `default` wins."""
    if "$ref" not in subschema:
        return subschema
    target = validator._resolver.lookup(subschema["$ref"]).contents
    return {**target, **{k: v for k, v in subschema.items() if k != "$ref"}}


@functools.lru_cache(maxsize=16)
def _validator(schema_name: str, schema_dir: Path) -> jsonschema.protocols.Validator:
    """A default-filling validator for one schema file of `schema_dir`."""
    registry = load_registry(schema_dir)
    validator_class = _with_defaults(jsonschema.Draft202012Validator)
    return validator_class(registry.contents(schema_name), registry=registry)


def _problems(instance: Any, schema_name: str, schema_dir: Path | None, prefix: str) -> list[str]:
    """Validate `instance` in place (defaults filled); one message per problem."""
    validator = _validator(schema_name, Path(schema_dir or default_schema_dir()).resolve())
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [_describe(error, prefix) for error in _leaf_errors(errors)]


def validate_section(
    section: Mapping[str, Any] | None, schema_name: str, key: str, schema_dir: Path | None = None
) -> dict[str, Any]:
    """A copy of one config section, validated against `schema_name` with defaults filled.

    `key` is where the section sits in the config (e.g. "train", "models.vqvae"), for messages.
    Raises :class:`ConfigValidationError` listing every problem.
    """
    instance = copy.deepcopy(dict(section or {}))
    problems = _problems(instance, schema_name, schema_dir, key)
    if problems:
        raise ConfigValidationError(problems, source=f"config section '{key}'")
    return instance


def section_defaults(schema_name: str, **given: Any) -> dict[str, Any]:
    """Every default of one schema file's section (plus the `given` keys, e.g. family=...)."""
    return validate_section(given, schema_name, schema_name.split(".")[0])


def validate_config(config: dict[str, Any], schema_dir: Path | None = None) -> dict[str, Any]:
    """Validate `config` in place (defaults filled) and return it.

    Raises :class:`ConfigValidationError` listing every problem.
    """
    problems = _problems(config, ROOT_SCHEMA, schema_dir, "")
    if not problems:
        problems = list(_semantic_problems(config))
    if problems:
        raise ConfigValidationError(problems)
    canonical = _sorted_keys(config, keep_order=("covariates",))
    config.clear()
    config.update(canonical)
    return config


def _sorted_keys(value: Any, keep_order: tuple[str, ...] = ()) -> Any:
    """`value` with every mapping's keys sorted, except the top-level keys named in `keep_order`.

    Snakemake compares `params:` by their text, so the order in which a user writes keys (or
    in which defaults were filled in) must not trigger reruns; the covariate order is meaningful.
    """
    if isinstance(value, dict):
        items = value.items() if keep_order == ("*",) else sorted(value.items())
        return {k: _sorted_keys(v, ("*",) if k in keep_order else ()) for k, v in items}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def load_config(path: str | Path, schema_dir: Path | None = None) -> dict[str, Any]:
    """Read a YAML config file and validate it (see :func:`validate_config`)."""
    path = Path(path)
    config = read_yaml(path) or {}
    try:
        return validate_config(config, schema_dir)
    except ConfigValidationError as exc:
        raise ConfigValidationError(exc.problems, source=str(path)) from None


def _leaf_errors(errors: list[jsonschema.ValidationError]) -> Iterator[jsonschema.ValidationError]:
    """Replace anyOf/oneOf errors by their most specific sub-error."""
    for error in errors:
        if error.context:
            yield jsonschema.exceptions.best_match(error.context)
        else:
            yield error


def _key(error: jsonschema.ValidationError, prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    parts += [str(p) for p in error.absolute_path]
    return ".".join(parts) or "<top level>"


def _describe(error: jsonschema.ValidationError, prefix: str = "") -> str:
    """One line: key, bad value, what is allowed, closest valid value."""
    key, value = _key(error, prefix), error.instance
    if error.validator == "enum":
        allowed = list(error.validator_value)
        return f"'{key}': got {value!r}; expected one of {allowed}.{did_you_mean(value, allowed)}"
    if error.validator == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = [k for k in value if k not in allowed]
        hints = "".join(did_you_mean(k, allowed) for k in unknown)
        return f"'{key}': unknown key(s) {unknown}; allowed keys are {allowed}.{hints}"
    if error.validator == "type":
        return f"'{key}': got {value!r} ({type(value).__name__}); expected {error.validator_value}"
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"'{key}': got {value!r}; expected {error.validator} {error.validator_value}"
    if error.validator == "not" and "enum" in error.validator_value:
        return f"'{key}': {value!r} is a reserved name (not one of {error.validator_value['enum']})"
    if error.validator == "pattern":
        return f"'{key}': got {value!r}; expected text matching {error.validator_value}"
    return f"'{key}': {error.message}"


def model_train_config(train: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The validated `train` section as model `model` is trained: its `per_model` overrides
    applied, `per_model` itself dropped (so one model's overrides never touch another's jobs)."""
    merged = {k: v for k, v in train.items() if k != "per_model"}
    return {**merged, **train.get("per_model", {}).get(model, {})}


def _per_model_train_problems(
    per_model: Mapping[str, Any], models: Mapping[str, Any]
) -> Iterator[str]:
    for name, overrides in per_model.items():
        key = f"train.per_model.{name}"
        if name not in models:
            hint = did_you_mean(name, list(models))
            yield f"'{key}': no model named {name!r} in 'models' ({sorted(models)}).{hint}"
        if "per_model" in overrides:
            yield f"'{key}': per_model cannot be nested"
            continue
        try:
            validate_section(overrides, "train.schema.yaml", key)
        except ConfigValidationError as exc:
            yield from exc.problems


#: Stage sections whose `models` key names the models that run the stage (null = every model).
STAGES_WITH_MODELS = ("counterfactual", "forecast")


def stage_models(config: Mapping[str, Any], stage: str) -> list[str]:
    """Names of the models that run `stage` (one of STAGES_WITH_MODELS), in the order of `models`:
    the section's `models` list, or every model when it is null."""
    chosen = config[stage].get("models")
    return [name for name in config["models"] if chosen is None or name in chosen]


def _stage_models_problems(config: Mapping[str, Any]) -> Iterator[str]:
    for stage in STAGES_WITH_MODELS:
        for name in config[stage].get("models") or []:
            if name not in config["models"]:
                hint = did_you_mean(name, list(config["models"]))
                yield (
                    f"'{stage}.models': no model named {name!r} in 'models' "
                    f"({sorted(config['models'])}).{hint}"
                )


def _batch_share_problems(config: Mapping[str, Any]) -> Iterator[str]:
    """Every process of a distributed training run takes an equal share of the batch."""
    for name in config["models"]:
        train = model_train_config(config["train"], name)
        distributed = train.get("distributed", {})
        nodes, processes = distributed.get("nodes", 1), distributed.get("processes", 1)
        batch = train.get("batch_size")
        if not all(isinstance(v, int) for v in (nodes, processes, batch)):
            continue  # a wrong type is the schema's message
        if batch % (nodes * processes):
            yield (
                f"'train.batch_size' (model {name!r}): got {batch}; expected a multiple of "
                f"train.distributed.nodes x processes ({nodes} x {processes} = "
                f"{nodes * processes}): every process takes an equal share of the batch"
            )


def _semantic_problems(config: Mapping[str, Any]) -> Iterator[str]:
    """Checks across keys that a schema cannot express."""
    covariates = config["covariates"]
    for name, spec in covariates.items():
        if spec["type"] == "categorical" and "levels" not in spec:
            yield f"'covariates.{name}': a categorical covariate needs 'levels', e.g. levels: [F, M]"
        if spec["type"] == "numeric" and "levels" in spec:
            yield f"'covariates.{name}': 'levels' is only for categorical covariates"
    split = config["split"]
    if split["val_fraction"] + split["test_fraction"] >= 1:
        yield (
            f"'split': val_fraction + test_fraction must be < 1, got "
            f"{split['val_fraction']} + {split['test_fraction']}"
        )
    yield from intervention_problems(config["interventions"], covariates)
    yield from preprocess_settings_problems(config["preprocess"])
    yield from model_problems(config["models"])
    yield from _per_model_train_problems(config["train"]["per_model"], config["models"])
    yield from _batch_share_problems(config)
    yield from _stage_models_problems(config)
    network = config["sample"]["feature_network"]
    if network is not None and not Path(network).is_file():
        yield (
            f"'sample.feature_network': file {network!r} not found (a local TorchScript file; "
            "nothing is downloaded; null = no FID)"
        )
    yield from graph_problems(covariates, config["image_parents"])
    demo_on = config.get("demo", {}).get("enabled", False)
    source = config["input"]
    if not demo_on and not (source.get("bids_dir") or source.get("table")):
        yield "'input': demo.enabled is false, so set input.bids_dir (a BIDS folder) or input.table (a TSV)"
    if source.get("bids_dir") and source.get("table"):
        yield "'input': set either input.bids_dir or input.table, not both"
