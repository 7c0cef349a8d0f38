"""Split by subject: deterministic, disjoint, stable when subjects are added, minimum sizes."""

from __future__ import annotations

from collections import Counter

import pytest

from latentcf.cohort import SplitError, assign_splits, subject_uniform
from latentcf.errors import ConfigError


def _subjects(n, start=1):
    return [f"sub-{i:04d}" for i in range(start, start + n)]


def test_same_seed_same_split_and_order_does_not_matter():
    subjects = _subjects(50)
    a = assign_splits(subjects, 7, 0.2, 0.1)
    b = assign_splits(
        list(reversed(subjects)) + subjects[:5], 7, 0.2, 0.1
    )  # repeats: one per subject
    assert a == b
    assert set(a) == set(subjects)


def test_seed_changes_split():
    subjects = _subjects(50)
    assert assign_splits(subjects, 1, 0.2, 0.2) != assign_splits(subjects, 2, 0.2, 0.2)


def test_fractions_are_roughly_respected():
    counts = Counter(assign_splits(_subjects(2000), 3, 0.15, 0.10).values())
    assert 0.12 < counts["val"] / 2000 < 0.18
    assert 0.07 < counts["test"] / 2000 < 0.13
    assert counts["train"] == 2000 - counts["val"] - counts["test"]


def test_split_follows_the_subject_hash():
    subjects = _subjects(300)
    splits = assign_splits(subjects, 5, 0.2, 0.1)
    for pid in subjects:
        u = subject_uniform(5, pid)
        assert splits[pid] == ("test" if u < 0.1 else "val" if u < 0.3 else "train")


def test_stable_when_subjects_are_added():
    before = assign_splits(_subjects(100), 11, 0.15, 0.15)
    after = assign_splits(_subjects(140), 11, 0.15, 0.15)
    assert {pid: after[pid] for pid in before} == before


@pytest.mark.parametrize("n", [3, 4, 5, 8])
def test_at_least_one_val_and_test_subject(n):
    for seed in range(20):
        counts = Counter(assign_splits(_subjects(n), seed, 0.01, 0.01).values())
        assert counts["val"] >= 1 and counts["test"] >= 1 and counts["train"] >= 1


def test_train_keeps_a_subject_with_large_fractions():
    for seed in range(20):
        counts = Counter(assign_splits(_subjects(3), seed, 0.45, 0.45).values())
        assert counts == {"train": 1, "val": 1, "test": 1}


def test_zero_fractions_put_everyone_in_train():
    assert set(assign_splits(_subjects(2), 0, 0.0, 0.0).values()) == {"train"}
    assert Counter(assign_splits(_subjects(2), 0, 0.0, 0.3).values()) == {"train": 1, "test": 1}


def test_too_few_subjects():
    with pytest.raises(
        SplitError, match=r"2 subject\(s\) .*expected at least 3 .*one for val, one for test"
    ):
        assign_splits(_subjects(2), 0, 0.1, 0.1)


@pytest.mark.parametrize("val, test", [(-0.1, 0.1), (0.6, 0.4), (0.2, 1.0)])
def test_bad_fractions(val, test):
    with pytest.raises(ConfigError, match="config key 'split"):
        assign_splits(_subjects(10), 0, val, test)
