"""Did-you-mean suggestions for misspelt names."""

from aframe_dag.errors import did_you_mean


def test_suggests_close_and_case_insensitive_matches():
    assert did_you_mean("kernel_lenght", ["kernel_length", "sample_rate"]) == " (did you mean 'kernel_length'?)"
    assert did_you_mean("tb", ["Tb", "shifts"]) == " (did you mean 'Tb'?)"
    assert did_you_mean("zzz", ["Tb", "shifts"]) == ""
