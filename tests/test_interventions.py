"""Interventions: one validation for config and simulator, apply() semantics, apply_all()."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from latentcf.config import ConfigValidationError
from latentcf.interventions import (
    Intervention,
    apply_all,
    intervention_problems,
    parse_interventions,
)

COVARIATES = {
    "age": {"type": "numeric", "min": 0, "max": 120},
    "sex": {"type": "categorical", "levels": ["F", "M"]},
    "diagnosis": {"type": "categorical", "levels": ["CN", "AD"]},
    "bmi": {"type": "numeric"},
}
FACT = {"age": 70.0, "sex": "F", "diagnosis": "CN", "bmi": 25.0}


def problems(*items) -> list[str]:
    return list(intervention_problems(list(items), COVARIATES))


def test_parse_and_apply():
    ivs = parse_interventions(
        [
            {"name": "age10", "shift": {"age": 10}},
            {"name": "age5AD", "shift": {"age": 5}, "set": {"diagnosis": "AD"}},
            {"name": "bmi30", "set": {"bmi": 30}},
        ],
        COVARIATES,
    )
    assert [iv.name for iv in ivs] == ["age10", "age5AD", "bmi30"]
    assert ivs[0].apply(FACT) == {**FACT, "age": 80.0}
    assert ivs[1].apply(FACT) == {**FACT, "age": 75.0, "diagnosis": "AD"}
    assert ivs[2].apply(FACT) == {**FACT, "bmi": 30.0}
    assert ivs[1].targets == {"age", "diagnosis"}


def test_apply_sets_before_shifting_and_keeps_its_input():
    iv = Intervention("j", shift={"age": 5.0}, set={"age": 60.0})
    fact = dict(FACT)
    assert iv.apply(fact)["age"] == 65.0
    assert fact == FACT


def test_categorical_set_values_become_levels():
    covariates = {"grade": {"type": "categorical", "levels": ["1", "2"]}}
    (iv,) = parse_interventions([{"name": "g2", "set": {"grade": 2}}], covariates)
    assert iv.set == {"grade": "2"}


def test_no_interventions():
    assert parse_interventions(None, COVARIATES) == []
    assert problems() == []


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"name": "x", "set": {"diagnosis": "ADD"}}, "unseen level 'ADD' for 'diagnosis'"),
        ({"name": "x", "set": {"diagnosis": "ADD"}}, "Did you mean 'AD'?"),
        ({"name": "x", "shift": {"agee": 10}}, "unknown covariate 'agee' in shift"),
        ({"name": "x", "shift": {"agee": 10}}, "Did you mean 'age'?"),
        ({"name": "x", "shift": {"sex": 1}}, "cannot shift categorical covariate 'sex'"),
        ({"name": "x"}, "give 'shift' and/or 'set'"),
        ({"name": "x", "shift": {}, "set": {}}, "give 'shift' and/or 'set'"),
        ({"name": "factual", "shift": {"age": 1}}, "the name 'factual' is reserved"),
        ({"name": "a-b", "shift": {"age": 1}}, "name 'a-b' must be letters and digits only"),
        ({"shift": {"age": 1}}, "name None must be letters and digits only"),
        ({"name": "x", "shift": {"age": math.nan}}, "'age' is numeric, so shift needs a finite"),
        ({"name": "x", "shift": {"age": math.inf}}, "finite number, got inf"),
        ({"name": "x", "shift": {"age": True}}, "finite number, got True"),
        ({"name": "x", "set": {"age": "old"}}, "set needs a finite number, got 'old'"),
        ({"name": "x", "set": {"age": 130}}, "outside the range of 'age' [0, 120]"),
        ({"name": "x", "shfit": {"age": 1}}, "unknown key(s) ['shfit']"),
        ({"name": "x", "shfit": {"age": 1}}, "Did you mean 'shift'?"),
        ({"name": "x", "shift": 10}, "'shift' must map covariates to values, got 10"),
    ],
)
def test_problem_messages(item, expected):
    found = problems(item)
    assert any(expected in p for p in found), found
    assert all(p.startswith("'interventions.0' (") for p in found)


def test_every_problem_is_reported_naming_its_entry():
    found = problems(
        {"name": "a", "shift": {"age": 1}},
        {"name": "a", "set": {"sex": "X", "diagnosis": "MCI"}},
        "not a mapping",
    )
    assert len(found) == 4, found
    assert found[0].startswith("'interventions.1' (a): duplicate name")
    assert found[1].startswith("'interventions.1' (a): unseen level 'X'")
    assert found[2].startswith("'interventions.1' (a): unseen level 'MCI'")
    assert found[3].startswith("'interventions.2': expected a mapping")


def test_valid_edge_cases_have_no_problems():
    assert (
        problems(
            {"name": "age0", "shift": {"age": 0}},
            {"name": "age120", "set": {"age": 120}},
            {"name": "bmiLow", "shift": {"bmi": -5.5}},
        )
        == []
    )


def test_parse_raises_config_validation_error_listing_all():
    with pytest.raises(ConfigValidationError) as info:
        parse_interventions(
            [{"name": "x", "set": {"sex": "f"}}, {"name": "y", "shift": {"sex": 1}}], COVARIATES
        )
    assert len(info.value.problems) == 2
    assert "invalid interventions (2 problem(s))" in str(info.value)


def test_what_names_the_covariate_source():
    (found,) = intervention_problems(
        [{"name": "x", "shift": {"bmi": 1}}], {"age": COVARIATES["age"]}, what="modelled ones"
    )
    assert "unknown covariate 'bmi' in shift; modelled ones are ['age']" in found


def test_config_validation_uses_the_same_checks():
    from latentcf.config import validate_config

    config = {
        "demo": {"enabled": True},
        "interventions": [{"name": "factual", "shift": {"age": 1}}],
    }
    with pytest.raises(ConfigValidationError, match="the name 'factual' is reserved"):
        validate_config(config)


def test_apply_all_one_table_per_intervention():
    table = pd.DataFrame(
        {"age": [60.0, 72.5], "sex": ["F", "M"], "diagnosis": ["CN", "AD"]}, index=["s1", "s2"]
    )
    ivs = parse_interventions(
        [
            {"name": "age10", "shift": {"age": 10}},
            {"name": "age5CN", "shift": {"age": 5}, "set": {"diagnosis": "CN"}},
        ],
        COVARIATES,
    )
    out = apply_all(ivs, table)
    assert list(out) == ["age10", "age5CN"]
    assert out["age10"]["age"].tolist() == [70.0, 82.5]
    assert out["age10"]["diagnosis"].tolist() == ["CN", "AD"]
    assert out["age5CN"]["diagnosis"].tolist() == ["CN", "CN"]
    assert out["age5CN"].index.tolist() == ["s1", "s2"]
    assert table["age"].tolist() == [60.0, 72.5], "input unchanged"
    for iv in ivs:  # row by row, the same as Intervention.apply
        for sid, row in table.iterrows():
            assert out[iv.name].loc[sid].to_dict() == iv.apply(row.to_dict())


def test_apply_all_names_a_missing_column():
    iv = Intervention("bmi30", set={"bmi": 30.0})
    with pytest.raises(KeyError, match=r"'bmi30' changes \['bmi'\]"):
        apply_all([iv], pd.DataFrame({"age": [60.0]}))
