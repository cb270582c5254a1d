"""benchmarks/compare_outputs.py: two runs are the same when only their timings differ."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from compare_outputs import compare  # noqa: E402


def _run(root: Path, cpu: float, level: str = "1.5", weight: float = 0.0) -> Path:
    (root / "models" / "w").mkdir(parents=True)
    (root / "reports").mkdir()
    (root / "data" / "processed").mkdir(parents=True)
    (root / "models" / "w" / "predictions.csv").write_text(f"well,month,level\nw,2020-01,{level}\n")
    (root / "models" / "w" / "trials.csv").write_text(f"trial,val_loss,seconds\n0,0.5,{cpu}\n")
    (root / "models" / "w" / "cost.json").write_text(json.dumps({"cpu_s": cpu, "wall_s": cpu, "epochs": [3, 4]}))
    torch.save({"state_dict": {"w": torch.tensor([1.0, weight])}, "seeds": [0, 1]}, root / "models" / "w" / "model.pt")
    (root / "reports" / "report.html").write_text(f"<p>{cpu}</p>")
    (root / "metrics.json").write_text(json.dumps({"test": {"nse": 0.8}, "cost": {"cpu_s_per_well": {"tl": cpu}}}))
    return root


def test_runs_that_differ_in_timings_only_are_the_same(tmp_path):
    result = compare(_run(tmp_path / "a", cpu=1.0), _run(tmp_path / "b", cpu=2.0))
    assert result["compared"] == 5 and result["same"] == 5
    assert not result["differing"] and not result["only_old"] and not result["only_new"]


def test_a_changed_forecast_weight_or_missing_file_is_named(tmp_path):
    old = _run(tmp_path / "a", cpu=1.0)
    new = _run(tmp_path / "b", cpu=1.0, level="1.6", weight=1e-7)
    (new / "models" / "w" / "trials.csv").unlink()
    result = compare(old, new)
    assert result["differing"] == {"models/w/model.pt": "tensors or entries differ",
                                   "models/w/predictions.csv": "bytes differ"}
    assert result["only_old"] == ["models/w/trials.csv"]
