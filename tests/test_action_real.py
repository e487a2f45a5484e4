"""The shipped action model (action-default) on real data: its recorded figures are reproduced (CI's regression
check), like the lifter's quick benchmark in test_lifter_real.py.

Needs ../shared/data/h36m and ../shared/data/cmu (present in CI) and the text model; skipped visibly without them.
"""

from __future__ import annotations

import numpy as np
import pytest

from mbcli.model.action import load_action_model
from mbcli.train.data import default_data_dir
from mbcli.weights import DEFAULT_ACTION, entry

pytestmark = pytest.mark.skipif(not (default_data_dir() / "h36m_3d.npz").is_file(),
                                reason="Human3.6M data (../shared/data/h36m) not present")


@pytest.fixture(scope="module")
def model():
    return load_action_model(DEFAULT_ACTION)


@pytest.mark.slow
def test_quick_action_figure_matches_the_manifest(model, one_thread):
    """Camera 55011271, SH input, 59 sequences: the sequence top-1/top-5 recorded in weights/manifest.toml."""
    from mbcli.train.evaluate_action import evaluate_action

    res = evaluate_action(model[0], "sh", quick=True)
    e = entry(DEFAULT_ACTION)
    assert res.sequences == 59
    one = 100.0 / 59 + 1e-6  # a borderline sequence may flip on other hardware: one sequence of slack
    assert abs(res.top1 - float(e["eval_quick_sh_top1_percent"])) < one, res.top1
    assert abs(res.top5 - float(e["eval_quick_sh_top5_percent"])) < one, res.top5


@pytest.mark.slow
def test_zero_shot_figure_matches_the_manifest(model, tmp_path, one_thread):
    """`mbcli eval --task zeroshot` (the shipped model by default) on held-out CMU subjects 08 and 13, every CMU
    description as a label: the recorded zero-shot top-1/top-5."""
    import json

    from typer.testing import CliRunner

    from mbcli.cli.main import app
    from mbcli.errors import DependencyError
    from mbcli.text import model_dir
    from mbcli.train.cmu import default_cmu_dir

    if not (default_cmu_dir() / "bvh").is_dir():
        pytest.skip("CMU mocap (../shared/data/cmu) not present")
    try:
        model_dir()
    except DependencyError as e:
        pytest.skip(f"text model not installed ({e})")
    assert model[1]["cmu_holdout"] == ["08", "13"]  # the model never saw these subjects
    out = tmp_path / "zs.json"
    r = CliRunner().invoke(app, ["eval", "--task", "zeroshot", "--json", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    e = entry(DEFAULT_ACTION)
    one = 100.0 / d["sequences"] + 1e-6
    assert d["sequences"] == 76 and len(d["labels"]) == 10
    assert abs(d["top1_percent"] - float(e["zeroshot_cmu_top1_percent"])) < one, d["top1_percent"]
    assert abs(d["top5_percent"] - float(e["zeroshot_cmu_top5_percent"])) < one, d["top5_percent"]
    assert d["by_label_novelty"]["unseen"]["top1_percent"] == float(e["zeroshot_cmu_unseen_descriptions_top1_percent"])


@pytest.mark.slow
def test_bench_times_action_recognition(one_thread):
    """mbcli bench's action figures: the shipped model over a 3000-frame track, classifier and open vocabulary."""
    from mbcli.bench.speed import action_speeds
    from mbcli.errors import DependencyError

    try:
        rows = action_speeds("cpu")
    except DependencyError as e:
        pytest.skip(f"text model not installed ({e})")
    assert [name for name, _ in rows] == ["classifier", "8 open-vocabulary labels"]
    assert all(np.isfinite(fps) and fps > 0 for _, fps in rows), rows  # the speed itself is bench's to report
