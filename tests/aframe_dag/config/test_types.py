"""Value types: what each accepts, what it refuses, and that format() round-trips parse()."""

import pytest

from aframe_dag.config.types import (
    BadValue,
    Choice,
    Flag,
    Integer,
    Location,
    Number,
    Numbers,
    Optional,
    Pairs,
    Pattern,
    SearchSpace,
    Size,
    Words,
)


@pytest.mark.parametrize("kind, text, value", [
    (Integer(), "1_000", 1000),
    (Number(), "1e-4", 1e-4),
    (Flag(), "Yes", True),
    (Choice(("cuda", "cpu")), "cpu", "cpu"),
    (Words(r"[A-Z][0-9]"), "H1, L1 V1", ("H1", "L1", "V1")),
    (Numbers(), "0,1", (0.0, 1.0)),
    (Pairs(), "35:35, 20:10", ((35.0, 35.0), (20.0, 10.0))),
    (Size(), "6GB", 6144),
    (Size(), "512MB", 512),
    (Size(), "1.5G", 1536),
    (Location(allow_s3=True), "s3://my-bucket/prefix/", "s3://my-bucket/prefix"),
    (Location(), "/data/run/", "/data/run"),
    (Optional(Number()), "", None),
    (Pattern(r"\d+(\.\d+)*", "version"), "23.5", "23.5"),
])
def test_parse_accepts(kind, text, value):
    assert kind.parse(text) == value
    assert kind.parse(kind.format(value)) == value


@pytest.mark.parametrize("kind, text, message", [
    (Integer(), "1.5", "must be an integer"),
    (Integer(above=0), "0", "greater than 0"),
    (Number(above=0), "-2", "greater than 0"),
    (Number(), "nan", "finite"),
    (Number(minimum=0, maximum=1), "2", "at most 1"),
    (Flag(), "maybe", "true or false"),
    (Choice(("cuda", "cpu")), "gpu", "one of cuda, cpu"),
    (Words(r"[A-Z][0-9]"), "H1, h2", "'h2' is not a valid item"),
    (Words(), "H1, H1", "twice"),
    (Words(), " ", "at least one"),
    (Pairs(), "35-35", "not a pair"),
    (Size(), "6 parsecs", "size"),
    (Size(), "0GB", "positive"),
    (Location(), "relative/dir", "absolute"),
    (Location(), "s3://bucket/x", "not an S3 URL"),
    (Location(allow_s3=True), "s3://Bad_Bucket", "not a valid"),
])
def test_parse_refuses(kind, text, message):
    with pytest.raises(BadValue, match=message):
        kind.parse(text)


def test_search_space_round_trip():
    text = "\noptimizer.learning_rate: loguniform(1e-4, 1e-2)\ndata.batch_size: choice(256, 512)"
    space = SearchSpace().parse(text)
    assert space == (("optimizer.learning_rate", "loguniform", ("1e-4", "1e-2")),
                     ("data.batch_size", "choice", ("256", "512")))
    assert SearchSpace().parse(SearchSpace().format(space)) == space


@pytest.mark.parametrize("text, message", [
    ("lr: gaussian(0, 1)", "is not"),
    ("lr: uniform(1)", "takes low, high"),
    ("lr: uniform(2, 1)", "low < high"),
    ("lr: loguniform(0, 1)", "0 < low"),
    ("lr: uniform(0, 1)\nlr: uniform(0, 2)", "twice"),
])
def test_search_space_refuses(text, message):
    with pytest.raises(BadValue, match=message):
        SearchSpace().parse(text)
