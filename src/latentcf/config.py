"""Load and validate the workflow configuration against the JSON schemas in workflow/schemas/.

Validation happens once, when the Snakefile is parsed: defaults are filled in, and every
problem is reported at once with the key path, the bad value, the allowed values and the
closest valid one ("did you mean ...?"), before any job starts.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from latentcf.errors import LatentCFError, did_you_mean
from latentcf.preprocess.settings import settings_problems as preprocess_settings_problems

ROOT_SCHEMA = "config.schema.yaml"


class ConfigValidationError(LatentCFError):
    """One or more configuration problems; `problems` holds one message per problem."""

    def __init__(self, problems: list[str], source: str = "config"):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid {source} ({len(problems)} problem(s)):\n{lines}")


def default_schema_dir() -> Path:
    """workflow/schemas/ of the source checkout this package was installed from (editable)."""
    return Path(__file__).resolve().parents[2] / "workflow" / "schemas"


def load_registry(schema_dir: Path) -> Registry:
    """All *.schema.yaml files of `schema_dir`, addressable by file name in `$ref`."""
    resources = []
    for path in sorted(Path(schema_dir).glob("*.schema.yaml")):
        contents = yaml.safe_load(path.read_text())
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


def validate_config(config: dict[str, Any], schema_dir: Path | None = None) -> dict[str, Any]:
    """Validate `config` in place (defaults filled) and return it.

    Raises :class:`ConfigValidationError` listing every problem.
    """
    schema_dir = Path(schema_dir) if schema_dir else default_schema_dir()
    registry = load_registry(schema_dir)
    root = registry.contents(ROOT_SCHEMA)
    validator_class = _with_defaults(jsonschema.Draft202012Validator)
    validator = validator_class(root, registry=registry)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(error) for error in _leaf_errors(errors)]
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
    config = yaml.safe_load(path.read_text()) or {}
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


def _key(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line: key, bad value, what is allowed, closest valid value."""
    key, value = _key(error), error.instance
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
    if error.validator == "pattern":
        return f"'{key}': got {value!r}; expected text matching {error.validator_value}"
    return f"'{key}': {error.message}"


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
    yield from _intervention_problems(config["interventions"], covariates)
    yield from preprocess_settings_problems(config["preprocess"])
    demo_on = config.get("demo", {}).get("enabled", False)
    source = config["input"]
    if not demo_on and not (source.get("bids_dir") or source.get("table")):
        yield "'input': demo.enabled is false, so set input.bids_dir (a BIDS folder) or input.table (a TSV)"
    if source.get("bids_dir") and source.get("table"):
        yield "'input': set either input.bids_dir or input.table, not both"


def _intervention_problems(
    interventions: list[Mapping[str, Any]], covariates: Mapping[str, Any]
) -> Iterator[str]:
    seen: set[str] = set()
    for i, item in enumerate(interventions):
        where = f"'interventions.{i}' ({item['name']})"
        if item["name"] in seen:
            yield f"{where}: duplicate name; names must be unique"
        seen.add(item["name"])
        if not item.get("shift") and not item.get("set"):
            yield f"{where}: give 'shift' and/or 'set', e.g. shift: {{age: 10}}"
        for kind in ("shift", "set"):
            for cov, value in item.get(kind, {}).items():
                if cov not in covariates:
                    yield (
                        f"{where}: unknown covariate '{cov}' in {kind}; configured covariates are "
                        f"{list(covariates)}.{did_you_mean(cov, covariates)}"
                    )
                    continue
                spec = covariates[cov]
                if kind == "shift" and spec["type"] != "numeric":
                    yield f"{where}: cannot shift categorical covariate '{cov}'; use set: {{{cov}: <level>}}"
                if (
                    kind == "set"
                    and spec["type"] == "categorical"
                    and str(value) not in spec["levels"]
                ):
                    yield (
                        f"{where}: unseen level {value!r} for '{cov}'; expected one of {spec['levels']}."
                        f"{did_you_mean(value, spec['levels'])}"
                    )
                if (
                    kind == "set"
                    and spec["type"] == "numeric"
                    and not isinstance(value, int | float)
                ):
                    yield f"{where}: '{cov}' is numeric, got {value!r}"
