"""mbcli.labels: the label vocabularies, resolve_labels (the --labels value) and the CMU description index."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mbcli.errors import ConfigError
from mbcli.labels import (
    ACTION_SENTENCES,
    H36M_ACTIONS,
    LABEL_SETS,
    NTU60_CLASSES,
    NTU120_CLASSES,
    read_cmu_index,
    resolve_labels,
)


def test_vocabularies():
    assert len(H36M_ACTIONS) == 15 and set(ACTION_SENTENCES) == set(H36M_ACTIONS)
    assert len(NTU60_CLASSES) == 60 and len(NTU120_CLASSES) == 120 and NTU120_CLASSES[:60] == NTU60_CLASSES
    assert LABEL_SETS == {"ntu60": NTU60_CLASSES, "ntu120": NTU120_CLASSES}


def test_resolve_labels_named_sets():
    assert resolve_labels(None) is None
    h36m = resolve_labels("h36m")
    assert h36m == [ACTION_SENTENCES[a] for a in H36M_ACTIONS]
    assert h36m[0] == "giving directions" and h36m[-1] == "walking together"
    assert resolve_labels(" NTU60 ") == list(NTU60_CLASSES)
    assert resolve_labels("ntu120") == list(NTU120_CLASSES)
    assert isinstance(resolve_labels("ntu60"), list)
    first = resolve_labels("ntu60")
    first.append("changed")  # a fresh list each time: the vocabulary itself is untouched
    assert len(resolve_labels("ntu60")) == 60


def test_resolve_labels_comma_list():
    assert resolve_labels("waving, jumping ,,running") == ["waving", "jumping", "running"]
    assert resolve_labels("H36M walk") == ["H36M walk"]  # only the bare names are sets
    assert resolve_labels("h36m,ntu60") == ["h36m", "ntu60"]
    for empty in ("", " ", ",", " , ,"):
        with pytest.raises(ConfigError, match=r"^--labels is empty: give a comma-separated list or one of h36m, "
                                              r"ntu60, ntu120$"):
            resolve_labels(empty)


def test_read_cmu_index(tmp_path):
    path = tmp_path / "cmu_index.tsv"
    path.write_text("trial\tdescription\n07_01\t walk \n09_03\trun\tmore\nbroken line\n", encoding="utf-8")
    assert read_cmu_index(path.resolve()) == {"07_01": "walk", "09_03": "run"}


def test_import_is_light():
    code = "import sys, mbcli.labels; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
