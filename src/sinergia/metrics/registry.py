"""The metric registry: one declaration per metric. CLI, API and docs enumerate it; nobody keeps a second list.

A metric is declared by *what one observation is* (an account in a period, a ticket, a survey answer)
and *how observations aggregate* (ratio of sums, proportion, mean, median, sum, count, NPS, distinct).
The observation table is also the drill-down: the rows behind any value are exactly its observations.

Observation tables are Ibis tables with, always:
- ``period_start`` — the start of the period the observation belongs to;
- ``account_id`` — the account (nullable), so results can be split by account attributes;
plus the aggregation's columns:
- ratio / proportion: ``num`` and ``den`` (proportion: each observation has den 1 and num 0 or 1);
- mean / median / sum: ``x``;
- nps: ``promoter`` and ``detractor`` (0/1 each);
- distinct: ``unit_id`` (counted once per period and group);
- count: nothing else (each row counts 1);
and any of the metric's ``dimensions`` (e.g. ``channel``, ``priority``, ``touchpoint``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sinergia.errors import UsageError

if TYPE_CHECKING:
    from sinergia.metrics.context import MetricContext

Aggregation = Literal["ratio", "proportion", "mean", "median", "sum", "count", "nps", "distinct"]
Family = Literal["revenue", "lifecycle", "support", "cx"]
Direction = Literal["higher", "lower", "neutral"]

FAMILIES: dict[str, dict[str, str]] = {
    "revenue": {"en": "Revenue and retention", "pt-BR": "Receita e retenção"},
    "lifecycle": {"en": "Lifecycle and adoption", "pt-BR": "Ciclo de vida e adoção"},
    "support": {"en": "Support", "pt-BR": "Suporte"},
    "cx": {"en": "Customer experience", "pt-BR": "Experiência do cliente"},
}

UNITS: dict[str, str] = {
    "ratio": "a fraction (0.25 = 25 %)",
    "money": "an amount in the workspace currency",
    "count": "a count",
    "hours": "hours",
    "days": "days",
    "score": "a score on the survey's scale",
    "nps": "NPS points, −100 to +100",
}


@dataclass(frozen=True)
class Metric:
    """A metric's definition card and the expression that computes it."""

    name: str
    family: Family
    title: dict[str, str]  # {"en": ..., "pt-BR": ...}
    unit: str
    direction: Direction
    aggregation: Aggregation
    inputs: tuple[str, ...]
    formula: str
    observations: Callable[[MetricContext], Any] = field(repr=False, compare=False)
    edge_cases: tuple[str, ...] = ()
    variant: str = ""  # which variant of a disputed definition we compute, and why
    dimensions: tuple[str, ...] = ()
    account_level: bool = True
    #: Columns that identify an observation in drill-down output (besides period_start, account_id).
    row_keys: tuple[str, ...] = ()
    #: Applied to the value and interval bounds: f(value, period_days) (e.g. a rate made monthly).
    transform: Callable[[float, float], float] | None = field(default=None, repr=False, compare=False)
    #: A derived metric combines other metrics' values per period and group: combine({name: value}).
    derived_from: tuple[str, ...] = ()
    combine: Callable[[dict[str, float | None], Any], float | None] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if set(self.title) != {"en", "pt-BR"}:
            raise ValueError(f"{self.name}: title needs 'en' and 'pt-BR'")
        if self.unit not in UNITS:
            raise ValueError(f"{self.name}: unknown unit {self.unit}")

    def card(self) -> dict[str, Any]:
        """The definition card, as data (for the CLI, API and docs)."""
        return {
            "name": self.name,
            "family": self.family,
            "title": dict(self.title),
            "unit": self.unit,
            "direction": self.direction,
            "aggregation": self.aggregation,
            "inputs": list(self.inputs),
            "formula": self.formula,
            "variant": self.variant,
            "edge_cases": list(self.edge_cases),
            "derived_from": list(self.derived_from),
            "dimensions": list(self.dimensions),
            "account_attributes": self.account_level,
        }


REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    if metric.name in REGISTRY:
        raise ValueError(f"metric {metric.name} registered twice")
    REGISTRY[metric.name] = metric
    return metric


#: Modules whose import registers a family's metrics.
FAMILY_MODULES = ("revenue", "cx", "lifecycle", "support")


def _load_families() -> None:
    import importlib

    for module in FAMILY_MODULES:
        importlib.import_module(f"sinergia.metrics.{module}")


def all_metrics() -> dict[str, Metric]:
    _load_families()
    return dict(REGISTRY)


def get_metric(name: str) -> Metric:
    metrics = all_metrics()
    if name not in metrics:
        raise UsageError(f"unknown metric '{name}'; metrics: {', '.join(sorted(metrics))}")
    return metrics[name]
