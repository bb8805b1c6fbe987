import statistics

from pipeline.dataset.summary import histogram_quantiles, quantiles_by_name


def test_histogram_quantiles_are_exact():
    values = [3, 1, 4, 1, 5, 9, 2, 6]
    histogram = {v: values.count(v) for v in set(values)}
    q = histogram_quantiles(histogram)
    assert q["median"] == statistics.median(values)
    assert (q["min"], q["max"]) == (1, 9)
    assert q["q1"] == sorted(values)[(len(values) - 1) // 4]


def test_quantiles_by_name():
    counts = [(("a", 1.0), 2), (("a", 3.0), 1), (("b", 0.5), 4)]
    assert quantiles_by_name(counts)["a"]["median"] == 1.0
    assert quantiles_by_name(counts)["b"]["max"] == 0.5
