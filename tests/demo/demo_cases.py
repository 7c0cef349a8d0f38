"""Settings of the tiny demo cohort shared by the demo tests."""

TINY_DEMO = {
    "n_subjects": 3,
    "sessions_per_subject": 2,
    "years_between_sessions": 3.0,
    "resolution_mm": 4,
    "field_spacing_mm": 4,
}
TINY_INTERVENTIONS = [
    {"name": "age10", "shift": {"age": 10}},
    {"name": "dxAD", "set": {"diagnosis": "AD"}},
    {"name": "dxCN", "set": {"diagnosis": "CN"}},
    {"name": "age0", "shift": {"age": 0}},
    {"name": "age5AD", "shift": {"age": 5}, "set": {"diagnosis": "AD"}},
]
TINY_SEED = 1234
