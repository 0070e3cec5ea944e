"""Real torch.utils.data loaders, default collation included, are accepted as input_fn results."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import torchestimator as te
from torchestimator import feature_column as fc


class _Rows(Dataset):
    """Map-style dataset of ({'x': float, 'color': str}, label) samples; default collation makes lists."""

    def __init__(self, n: int = 64) -> None:
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=n).astype(np.float32)
        self.color = rng.choice(["red", "blue"], size=n)
        self.y = ((self.x > 0) ^ (self.color == "red")).astype(np.int64)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return {"x": self.x[i], "color": str(self.color[i])}, self.y[i]


def test_default_collated_dict_samples_train_a_premade(tmp_path):
    data = _Rows()
    columns = [
        fc.numeric_column("x"),
        fc.indicator_column(fc.categorical_column_with_vocabulary_list("color", ["red", "blue"])),
    ]
    est = te.DNNClassifier([8], columns, model_dir=str(tmp_path), optimizer="Adam")
    first = next(iter(DataLoader(data, batch_size=16)))
    assert isinstance(first, list) and isinstance(first[0], dict)  # what default collation really yields
    est.train(lambda: DataLoader(data, batch_size=16, shuffle=True), steps=20)
    metrics = est.evaluate(lambda: DataLoader(data, batch_size=16))
    assert metrics["global_step"] == 4  # one pass over 64 rows in batches of 16: end of input ends train()
    preds = list(est.predict(lambda: DataLoader(data, batch_size=16)))
    assert len(preds) == len(data)
    # the evaluation saw every row once: average_loss equals the per-example loss mean over the predictions
    probs = np.array([p["logistic"][0] for p in preds])
    bce = -np.mean(data.y * np.log(probs) + (1 - data.y) * np.log(1 - probs))
    assert abs(metrics["average_loss"] - bce) < 1e-5


def test_tensor_dataset_trains_model_to_estimator(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(96, 3)
    y = (x.sum(dim=1) > 0).long()
    module = nn.Linear(3, 2)
    est = te.model_to_estimator(module, model_dir=str(tmp_path), optimizer="SGD", learning_rate=0.5)
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    first = next(iter(loader))
    assert isinstance(first, list) and len(first) == 2
    before = est.evaluate(lambda: loader)["loss"]
    est.train(lambda: loader, steps=30)
    after = est.evaluate(lambda: loader)["loss"]
    assert after < before * 0.8


def test_features_only_tensor_dataset_predicts(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(10, 3)
    module = nn.Linear(3, 2)
    est = te.model_to_estimator(module, model_dir=str(tmp_path))
    est.train(lambda: DataLoader(TensorDataset(x, torch.zeros(10, dtype=torch.long)), batch_size=5), steps=1)
    preds = list(est.predict(lambda: DataLoader(TensorDataset(x), batch_size=5)))
    assert len(preds) == 10
    expected = est.get_variable_value("model.weight") @ x[0].numpy() + est.get_variable_value("model.bias")
    np.testing.assert_allclose(preds[0]["logits"], expected, atol=1e-5)


def test_read_only_arrays_train_without_torch_warning(tmp_path):
    import warnings

    x = np.broadcast_to(np.float32(1.0), (8, 1))  # read-only, like a pandas 3 column's values
    assert not x.flags.writeable
    est = te.LinearClassifier([fc.numeric_column("x")], model_dir=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "NumPy array is not writable" would fail the test
        est.train(lambda: ({"x": x}, np.ones(8, np.int64)), steps=2)
    assert est.global_step == 2
