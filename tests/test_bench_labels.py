"""The names of ``mbcli bench``'s rows say what was measured (found as a new user: the peak-RSS row claimed an ONNX
export of base that a ``--models campaign,lifter-default`` run never did)."""

from __future__ import annotations

from mbcli.bench.speed import rss_label


def test_rss_row_names_only_the_onnx_exports_that_ran():
    assert rss_label([]) == "peak RSS of the whole benchmark"
    assert rss_label(["campaign", "lifter-default"]) == (
        "peak RSS of the whole benchmark (ONNX export of campaign, lifter-default included)")
    assert "base" not in rss_label(["lite"])
