"""The seed's custom-estimator example (examples/custom_estimator.py) against a hand-written loop."""

from __future__ import annotations

import custom_estimator as ex
import torch


def test_custom_estimator_example_matches_hand_loop(tmp_path):
    result = ex.main(str(tmp_path))
    assert int(result["global_step"]) == 10
    torch.manual_seed(0)
    ref = ex.NetModel()
    data = ex.toy_dataset()
    for _ in range(10):
        batch = next(data)
        ref.optimizer.zero_grad()
        torch.mean(torch.abs(ref.net(batch["x"]) - batch["y"])).backward()
        ref.optimizer.step()
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(result[key], value, rtol=0, atol=0, msg=key)
