"""The causal graph among the covariates and the image, from the config (torch-free).

Each covariate lists its `parents`; `image_parents` lists the covariates with an arrow into the
image (null = all). An arrow a -> b means: intervening on a changes b unless the intervention
also sets b. :func:`graph_problems` checks the graph when the config is loaded (unknown names,
self-loops, cycles, a reference level that is not a level); :class:`CausalGraph` answers
topological order and descendant queries for the counterfactual stage.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from latentcf.errors import did_you_mean


def graph_problems(
    covariates: Mapping[str, Mapping[str, Any]], image_parents: Sequence[str] | None
) -> Iterator[str]:
    """One message per problem of the configured graph (none when it is a valid DAG)."""
    names = list(covariates)
    for name, spec in covariates.items():
        for parent in spec.get("parents", []):
            if parent == name:
                yield f"'covariates.{name}.parents': '{name}' cannot be its own parent"
            elif parent not in covariates:
                yield (
                    f"'covariates.{name}.parents': unknown covariate '{parent}'; configured covariates "
                    f"are {names}.{did_you_mean(parent, names)}"
                )
        reference = spec.get("reference")
        if reference is not None:
            levels = spec.get("levels") or []
            if spec["type"] != "categorical":
                yield f"'covariates.{name}.reference': only categorical covariates have a reference level"
            elif reference not in levels:
                yield (
                    f"'covariates.{name}.reference': got {reference!r}; expected one of its levels "
                    f"{levels}.{did_you_mean(reference, levels)}"
                )
    for parent in image_parents or []:
        if parent not in covariates:
            yield (
                f"'image_parents': unknown covariate '{parent}'; configured covariates are {names}."
                f"{did_you_mean(parent, names)}"
            )
    cycle = find_cycle(covariates)
    if cycle:
        yield (
            "'covariates': the parents form a cycle "
            + " -> ".join(cycle)
            + "; the causal graph must be acyclic (remove one of these parents)"
        )


def find_cycle(covariates: Mapping[str, Mapping[str, Any]]) -> list[str] | None:
    """A cycle of the parent graph as [a, b, ..., a] (edges parent -> child), or None."""
    graph = {
        name: [p for p in spec.get("parents", []) if p in covariates and p != name]
        for name, spec in covariates.items()
    }
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return list(reversed(exc.args[1]))
    return None


@dataclass(frozen=True)
class CausalGraph:
    """A validated DAG: `parents` per covariate (config order) and the image's parents."""

    parents: dict[str, tuple[str, ...]]
    image_parents: tuple[str, ...]

    @classmethod
    def from_config(
        cls, covariates: Mapping[str, Mapping[str, Any]], image_parents: Sequence[str] | None
    ) -> CausalGraph:
        problems = list(graph_problems(covariates, image_parents))
        if problems:
            from latentcf.config import ConfigValidationError

            raise ConfigValidationError(problems)
        parents = {name: tuple(spec.get("parents", [])) for name, spec in covariates.items()}
        image = tuple(image_parents) if image_parents is not None else tuple(covariates)
        return cls(parents, image)

    def order(self) -> list[str]:
        """Covariates in a topological order (parents first; ties in config order)."""
        sorter = graphlib.TopologicalSorter(self.parents)
        sorter.prepare()
        rank = {name: i for i, name in enumerate(self.parents)}
        out: list[str] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=rank.__getitem__)
            out.extend(ready)
            sorter.done(*ready)
        return out

    def descendants(self, names: Sequence[str]) -> set[str]:
        """Covariates reachable from `names` along parent -> child edges (excluding `names`)."""
        children: dict[str, list[str]] = {n: [] for n in self.parents}
        for child, parents in self.parents.items():
            for parent in parents:
                children[parent].append(child)
        found: set[str] = set()
        todo = list(names)
        while todo:
            for child in children[todo.pop()]:
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found - set(names)
