"""Settings shared by the counterfactual tests (a module name unique across tests/)."""

COVARIATES = {
    "age": {"type": "numeric", "parents": []},
    "sex": {"type": "categorical", "levels": ["F", "M"], "parents": []},
    "diagnosis": {"type": "categorical", "levels": ["CN", "AD"], "parents": ["age"]},
}
IMAGE_PARENTS = ["age", "diagnosis"]
SCANS = [f"sub-00{i}/anat/sub-00{i}" for i in range(6)]
