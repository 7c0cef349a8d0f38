"""The design matrix: train statistics, reference levels, extra terms, JSON round trip, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latentcf.errors import ConfigError, InputDataError
from latentcf.scm.design import DesignSpec

COVARIATES = {
    "age": {"type": "numeric"},
    "sex": {"type": "categorical", "levels": ["F", "M"]},
    "diagnosis": {"type": "categorical", "levels": ["CN", "MCI", "AD"], "reference": "MCI"},
}
TRAIN = pd.DataFrame(
    {
        "age": [60.0, 70.0, 80.0, 70.0],
        "sex": ["F", "M", "M", "F"],
        "diagnosis": ["CN", "AD", "MCI", "AD"],
    }
)


def test_columns_and_encoding_use_train_statistics():
    design = DesignSpec.fit(
        TRAIN, COVARIATES, ["age", "sex", "diagnosis"], ["age^2", "age:diagnosis"]
    )
    assert design.columns() == [
        "intercept", "age", "sex[M]", "diagnosis[CN]", "diagnosis[AD]", "age^2",
        "age:diagnosis[CN]", "age:diagnosis[AD]",
    ]  # fmt: skip
    sd = np.std([60.0, 70.0, 80.0, 70.0])
    new = pd.DataFrame({"age": [90.0], "sex": ["M"], "diagnosis": ["AD"]})
    p = design.encode(new)[0]
    z = (90.0 - 70.0) / sd
    np.testing.assert_allclose(p, [1, z, 1, 0, 1, z**2, 0, z])
    assert design.encode(TRAIN)[:, 1].mean() == pytest.approx(0) and design.encode(TRAIN)[
        :, 1
    ].std() == pytest.approx(1)


def test_only_image_parents_in_config_order():
    design = DesignSpec.fit(TRAIN, COVARIATES, ["diagnosis", "age"])
    assert design.columns() == ["intercept", "age", "diagnosis[CN]", "diagnosis[AD]"]


def test_json_round_trip_encodes_identically():
    design = DesignSpec.fit(TRAIN, COVARIATES, ["age", "sex", "diagnosis"], ["age:sex"])
    again = DesignSpec.from_dict(design.to_dict())
    assert again == design
    np.testing.assert_array_equal(again.encode(TRAIN), design.encode(TRAIN))


def test_errors_name_the_problem():
    with pytest.raises(InputDataError, match="covariate 'age' is constant in the train split"):
        DesignSpec.fit(TRAIN.assign(age=65.0), COVARIATES, ["age"])
    with pytest.raises(ConfigError, match="term 'sex\\^2': only numeric covariates have powers"):
        DesignSpec.fit(TRAIN, COVARIATES, ["age", "sex"], ["sex^2"])
    with pytest.raises(ConfigError, match="uses 'bmi', which is not an image parent"):
        DesignSpec.fit(TRAIN, COVARIATES, ["age"], ["age:bmi"])
    design = DesignSpec.fit(TRAIN, COVARIATES, ["sex"])
    with pytest.raises(ConfigError, match=r"values \['X'\] are not among the levels \['F', 'M'\]"):
        design.encode(pd.DataFrame({"sex": ["X"]}))
