"""Warm start (tf.estimator WarmStartSettings / VocabInfo semantics, reference §1.10).

Oracles: the old model's checkpointed tensors looked up by word in the old vocabulary (numpy), the
backup initializer's known values, and the layers' own ``table_rows`` / ``column_rows``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torchestimator as te
from torchestimator import checkpoint as ckpt_lib
from torchestimator.columns import (
    DenseFeatures,
    LinearModel,
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
    embedding_column,
    numeric_column,
    shared_embeddings,
)
from torchestimator.errors import CheckpointMismatchError, InvalidArgumentError
from torchestimator.heads import BinaryClassHead
from torchestimator.warm_start import KEEP_INITIAL, VocabInfo, WarmStartSettings, module_variables, warm_start

VOCAB_A = ["apple", "banana", "cherry", "date", "elder"]
VOCAB_B = [
    "cherry",
    "fig",
    "apple",
    "grape",
    "elder",
]  # reordered, 'fig'/'grape' new, 'banana'/'date' removed
EMB = "dense/a_word_embedding/embedding_weights"
HASH_EMB = "dense/z_hash_embedding/embedding_weights"


class WordModel(torch.nn.Module):
    """Embedding of a vocabulary column + a hashed column (fused in one table) -> linear -> binary head."""

    def __init__(self, vocab: list[str], num_oov_buckets: int = 0) -> None:
        super().__init__()
        word = categorical_column_with_vocabulary_list("a_word", vocab, num_oov_buckets=num_oov_buckets)
        hashed = categorical_column_with_hash_bucket("z_hash", 7)
        self.dense = DenseFeatures([embedding_column(word, 3), embedding_column(hashed, 3)])
        self.logits = torch.nn.Linear(6, 1)
        self.head = BinaryClassHead()
        self.optimizer = torch.optim.SGD(self.parameters(), lr=0.5)

    def forward(self, features, labels=None, mode="train"):
        logits = self.logits(self.dense(features))  # (B, 1)
        return self.head.create_estimator_spec(features, mode, logits, labels, optimizer=self.optimizer)


def _word_batches(vocab: list[str]) -> list[tuple[dict, np.ndarray]]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(4):
        words = rng.choice(vocab, size=8)
        feats = {"a_word": words, "z_hash": rng.choice(["x", "y", "z"], size=8)}
        out.append((feats, (np.isin(words, vocab[:2])).astype(np.float32).reshape(-1, 1)))
    return out


def _rows(state: dict, layer: torch.nn.Module, name: str) -> np.ndarray:
    """A column's table rows in a checkpoint, located with the layer's own table_rows (the oracle)."""
    key, start, rows = layer.table_rows(name)
    return state[f"dense.embedding_tables.{key}.weight"][start : start + rows].numpy()


def test_embedding_rows_follow_the_vocabulary_through_estimator(tmp_path):
    torch.manual_seed(0)
    old_dir = tmp_path / "old"
    old = te.Estimator(lambda: WordModel(VOCAB_A), model_dir=str(old_dir))
    old.train(lambda: _word_batches(VOCAB_A), steps=4)
    old_state = ckpt_lib.load_model_state(old_dir)
    old_emb = _rows(old_state, old.model.dense, "a_word_embedding")
    old_hash = _rows(old_state, old.model.dense, "z_hash_embedding")

    info = VocabInfo(VOCAB_B, len(VOCAB_B), 1, VOCAB_A, backup_initializer=lambda shape: np.full(shape, 0.25))
    settings = WarmStartSettings(str(old_dir), ".*", var_name_to_vocab_info={EMB: info})
    new = te.Estimator(
        lambda: WordModel(VOCAB_B, num_oov_buckets=1),
        model_dir=str(tmp_path / "new"),
        warm_start_from=settings,
    )
    new.train(lambda: _word_batches(VOCAB_B), steps=1)
    step0 = ckpt_lib.load_model_state(tmp_path / "new" / "model.ckpt-0")  # saved before the first step
    new_emb = _rows(step0, new.model.dense, "a_word_embedding")
    assert new_emb.shape == (6, 3)
    for i, word in enumerate(VOCAB_B):
        if word in VOCAB_A:
            np.testing.assert_array_equal(new_emb[i], old_emb[VOCAB_A.index(word)], err_msg=word)
        else:
            np.testing.assert_array_equal(new_emb[i], np.full(3, 0.25, np.float32), err_msg=word)
    np.testing.assert_array_equal(new_emb[5], np.full(3, 0.25, np.float32))  # the OOV bucket
    np.testing.assert_array_equal(
        _rows(step0, new.model.dense, "z_hash_embedding"), old_hash
    )  # moved rows, same values
    np.testing.assert_array_equal(step0["logits.weight"].numpy(), old_state["logits.weight"].numpy())


def _save(module: torch.nn.Module, path) -> str:
    return ckpt_lib.save_checkpoint(str(path), 3, module.state_dict(), {})


def test_default_backup_is_zeros_and_keep_keeps_the_module_init(tmp_path):
    torch.manual_seed(1)
    _save(WordModel(VOCAB_A), tmp_path)
    for backup, expect_new in ((None, "zeros"), (KEEP_INITIAL, "init")):
        torch.manual_seed(2)
        model = WordModel(VOCAB_B)
        init = model.dense.embedding_weights("a_word_embedding").detach().clone()
        info = VocabInfo(VOCAB_B, 5, 0, VOCAB_A, backup_initializer=backup)
        warm_start(model, WarmStartSettings(str(tmp_path), None, {EMB: info}))
        rows = model.dense.embedding_weights("a_word_embedding").detach()
        for i in (1, 3):  # fig, grape
            expected = torch.zeros(3) if expect_new == "zeros" else init[i]
            torch.testing.assert_close(rows[i], expected, rtol=0, atol=0)


def test_none_warm_starts_only_the_vocab_variables(tmp_path):
    torch.manual_seed(1)
    old = WordModel(VOCAB_A)
    _save(old, tmp_path)
    torch.manual_seed(2)
    model = WordModel(VOCAB_B)
    before = model.logits.weight.detach().clone()
    written = warm_start(
        model, WarmStartSettings(str(tmp_path), None, {EMB: VocabInfo(VOCAB_B, 5, 0, VOCAB_A)})
    )
    assert written == [EMB]
    torch.testing.assert_close(model.logits.weight, before, rtol=0, atol=0)


def test_linear_model_categorical_weights_with_vocab_files(tmp_path):
    old_file, new_file = tmp_path / "old.txt", tmp_path / "new.txt"
    old_file.write_text("\n".join(VOCAB_A) + "\n")
    new_file.write_text("\n".join(VOCAB_B) + "\n")

    def linear(path) -> torch.nn.Module:
        m = torch.nn.Module()
        m.linear = LinearModel(
            [
                categorical_column_with_vocabulary_file("word", str(path), num_oov_buckets=2),
                numeric_column("x"),
            ],
            units=2,
        )
        return m

    old = linear(old_file)
    with torch.no_grad():
        old.linear.sparse_weights.weight.copy_(torch.randn(7, 2))
        old.linear.bias.copy_(torch.tensor([0.5, -0.5]))
    _save(old, tmp_path / "ckpt")
    new = linear(new_file)
    info = VocabInfo(str(new_file), 5, 2, str(old_file), backup_initializer=lambda shape: -np.ones(shape))
    warm_start(new, WarmStartSettings(str(tmp_path / "ckpt"), ".*", {"linear/word/weights": info}))
    start, n = new.linear.column_rows("word")
    got = new.linear.sparse_weights.weight.detach()[start : start + n].numpy()
    want = old.linear.sparse_weights.weight.detach().numpy()
    for i, word in enumerate(VOCAB_B):
        expected = want[VOCAB_A.index(word)] if word in VOCAB_A else -np.ones(2)
        np.testing.assert_array_equal(got[i], expected.astype(np.float32), err_msg=word)
    np.testing.assert_array_equal(got[5:], -np.ones((2, 2), np.float32))  # OOV rows: backup, never copied
    np.testing.assert_array_equal(new.linear.bias.detach().numpy(), [0.5, -0.5])


def test_variable_layout_matches_the_layers(tmp_path):
    """The warm-start names address the rows the layers themselves report (shared, frozen, fused, nested)."""
    g, g2 = categorical_column_with_identity("g", 7), categorical_column_with_identity("g2", 7)
    word = categorical_column_with_vocabulary_list("w", ["a", "b", "c"])
    hashed = categorical_column_with_hash_bucket("h", 5)
    m = torch.nn.Module()
    m.df = DenseFeatures(
        [
            embedding_column(word, 4),
            embedding_column(hashed, 4),
            embedding_column(g, 2, trainable=False),
            *shared_embeddings([g2, g], 4),
        ]
    )
    m.lm = LinearModel([word, hashed, numeric_column("x")])
    variables = module_variables(m)
    for col in ("w_embedding", "h_embedding", "g_embedding", "g2_shared_embedding"):
        key, start, rows = m.df.table_rows(col)
        table = m.df.embedding_tables[key].weight
        assert table is not None
        var = next(
            v for v in variables.values() if v.key == f"df.embedding_tables.{key}.weight" and v.start == start
        )
        assert (var.rows, var.trainable) == (rows, table.requires_grad)
    for col in ("w", "h"):
        assert (
            variables[f"lm/{col}/weights"].start,
            variables[f"lm/{col}/weights"].rows,
        ) == m.lm.column_rows(col)
    assert (
        "df.embedding_tables.dim4.weight" not in variables
    )  # a fused tensor is addressed by its columns only


class BNNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Linear(3, 3)
        self.bn = torch.nn.BatchNorm1d(3)
        self.frozen = torch.nn.Linear(3, 1)
        self.frozen.requires_grad_(False)


def test_regex_string_is_trainable_only_and_list_is_everything(tmp_path):
    old = BNNet()
    with torch.no_grad():
        for t in old.state_dict().values():
            t.copy_(torch.full_like(t, 7))
    _save(old, tmp_path)
    new = BNNet()
    written = warm_start(new, WarmStartSettings(str(tmp_path), ".*"))
    assert written == ["bn.bias", "bn.weight", "conv.bias", "conv.weight"]
    assert float(new.bn.running_mean[0]) == 0.0 and float(new.frozen.weight[0, 0]) != 7.0
    new = BNNet()
    written = warm_start(new, WarmStartSettings(str(tmp_path), [".*"]))
    assert {"bn.running_mean", "bn.running_var", "bn.num_batches_tracked", "frozen.weight"} <= set(written)
    assert float(new.bn.running_mean[0]) == 7.0 and float(new.frozen.weight[0, 0]) == 7.0
    new = BNNet()
    assert warm_start(new, WarmStartSettings(str(tmp_path), "conv")) == [
        "conv.bias",
        "conv.weight",
    ]  # re.match prefix
    # a plain path is WarmStartSettings(path): trainable variables only
    assert warm_start(BNNet(), str(tmp_path)) == ["bn.bias", "bn.weight", "conv.bias", "conv.weight"]


def test_regex_matching_nothing_is_an_error(tmp_path):
    _save(BNNet(), tmp_path)
    with pytest.raises(InvalidArgumentError, match="'convv' matches no trainable variable"):
        warm_start(BNNet(), WarmStartSettings(str(tmp_path), "convv"))
    with pytest.raises(InvalidArgumentError, match=r"matches non-trainable.*pass a list"):
        warm_start(BNNet(), WarmStartSettings(str(tmp_path), "frozen"))
    with pytest.raises(InvalidArgumentError, match="'nope' matches no variable"):
        warm_start(BNNet(), WarmStartSettings(str(tmp_path), ["conv", "nope"]))


def test_missing_renamed_and_reshaped_variables(tmp_path):
    old = torch.nn.Sequential(torch.nn.Linear(2, 3))
    _save(old, tmp_path)
    new = torch.nn.Module()
    new.layer = torch.nn.Linear(2, 3)
    with pytest.raises(CheckpointMismatchError, match=r"'layer\.bias'.*not in checkpoint"):
        warm_start(new, str(tmp_path))
    settings = WarmStartSettings(
        str(tmp_path), ".*", var_name_to_prev_var_name={"layer.weight": "0.weight", "layer.bias": "0.bias"}
    )
    assert warm_start(new, settings) == ["layer.bias", "layer.weight"]
    torch.testing.assert_close(new.layer.weight, old[0].weight, rtol=0, atol=0)
    wide = torch.nn.Sequential(torch.nn.Linear(2, 4))
    with pytest.raises(CheckpointMismatchError, match=r"shape \[4\].*shape \[3\].*VocabInfo"):
        warm_start(wide, str(tmp_path))
    with pytest.raises(
        InvalidArgumentError, match=r"not warm-started: \['0\.weigth'\]; did you mean '0\.weight'"
    ):
        warm_start(
            wide, WarmStartSettings(str(tmp_path), "0.bias", var_name_to_prev_var_name={"0.weigth": "x"})
        )


def test_axis_1_remaps_output_columns(tmp_path):
    old = torch.nn.Sequential(torch.nn.Linear(3, 3))
    _save(old, tmp_path)
    new = torch.nn.Sequential(torch.nn.Linear(3, 4))
    # the weight's axis 1 is the input; an output layer over labels remaps axis 0, its transpose axis 1
    info = VocabInfo(["c", "x", "a", "b"], 4, 0, ["a", "b", "c"], axis=0)
    warm_start(new, WarmStartSettings(str(tmp_path), ["0.weight"], {"0.weight": info}))
    w_old, w_new = old[0].weight.detach(), new[0].weight.detach()
    torch.testing.assert_close(w_new[[0, 2, 3]], w_old[[2, 0, 1]], rtol=0, atol=0)
    assert float(w_new[1].abs().sum()) == 0.0
    first = torch.nn.Sequential(torch.nn.Linear(4, 2))
    _save(torch.nn.Sequential(torch.nn.Linear(3, 2)), tmp_path / "in")
    old_in = ckpt_lib.load_model_state(tmp_path / "in")["0.weight"]
    info = VocabInfo(["b", "a", "z", "c"], 4, 0, ["a", "b", "c"], axis=1)
    warm_start(first, WarmStartSettings(str(tmp_path / "in"), ["0.weight"], {"0.weight": info}))
    torch.testing.assert_close(first[0].weight.detach()[:, [0, 1, 3]], old_in[:, [1, 0, 2]], rtol=0, atol=0)


def test_vocab_sizes_must_match_the_files_and_variables(tmp_path):
    _save(WordModel(VOCAB_A), tmp_path / "ckpt")
    short = tmp_path / "short.txt"
    short.write_text("cherry\nfig\n")

    def run(info: VocabInfo) -> None:
        warm_start(WordModel(VOCAB_B), WarmStartSettings(str(tmp_path / "ckpt"), None, {EMB: info}))

    with pytest.raises(
        InvalidArgumentError, match=r"new_vocab_size is 5 but the new_vocab file .*short.txt' has only 2"
    ):
        run(VocabInfo(str(short), 5, 0, VOCAB_A))
    with pytest.raises(InvalidArgumentError, match="old_vocab_size is 9 but the old_vocab list has only 5"):
        run(VocabInfo(VOCAB_B, 5, 0, VOCAB_A, old_vocab_size=9))
    with pytest.raises(
        InvalidArgumentError, match=r"has 5 entries on axis 0 but VocabInfo declares .* = 5 \+ 2 = 7"
    ):
        run(VocabInfo(VOCAB_B, 5, 2, VOCAB_A))
    with pytest.raises(InvalidArgumentError, match="cannot read new_vocab file"):
        run(VocabInfo(str(tmp_path / "missing.txt"), 5, 0, VOCAB_A))
    with pytest.raises(InvalidArgumentError, match="repeats 'a'"):
        run(VocabInfo(["a", "a", "b", "c", "d"], 5, 0, VOCAB_A))
    with pytest.raises(InvalidArgumentError, match="axis"):
        VocabInfo(VOCAB_B, 5, 0, VOCAB_A, axis=2)


def test_warm_start_only_applies_without_a_checkpoint_in_model_dir(tmp_path):
    """TF's rule: a model_dir with a checkpoint restores it; warm_start_from is ignored."""
    torch.manual_seed(0)
    source = tmp_path / "source"
    te.Estimator(lambda: WordModel(VOCAB_A), model_dir=str(source)).train(
        lambda: _word_batches(VOCAB_A), steps=2
    )
    torch.manual_seed(5)
    own_dir = tmp_path / "own"
    te.Estimator(lambda: WordModel(VOCAB_A), model_dir=str(own_dir)).train(
        lambda: _word_batches(VOCAB_A), steps=3
    )
    own = ckpt_lib.load_model_state(own_dir)
    est = te.Estimator(lambda: WordModel(VOCAB_A), model_dir=str(own_dir), warm_start_from=str(source))
    est.evaluate(lambda: _word_batches(VOCAB_A))
    torch.testing.assert_close(est.model.logits.weight.detach(), own["logits.weight"], rtol=0, atol=0)
    # and with an empty model_dir the same warm_start_from does apply
    fresh = te.Estimator(
        lambda: WordModel(VOCAB_A), model_dir=str(tmp_path / "fresh"), warm_start_from=str(source)
    )
    fresh.evaluate(lambda: _word_batches(VOCAB_A))
    torch.testing.assert_close(
        fresh.model.logits.weight.detach(), ckpt_lib.load_model_state(source)["logits.weight"], rtol=0, atol=0
    )


def test_settings_validate_eagerly():
    with pytest.raises(InvalidArgumentError, match="vars_to_warm_start"):
        WarmStartSettings("/x", vars_to_warm_start=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="var_name_to_vocab_info"):
        WarmStartSettings("/x", var_name_to_vocab_info={"a": "b"})  # type: ignore[dict-item]
    with pytest.raises(InvalidArgumentError, match="warm_start_from must be"):
        warm_start(torch.nn.Linear(1, 1), 42)
    with pytest.raises(InvalidArgumentError, match="backup_initializer"):
        VocabInfo(["a"], 1, 0, ["a"], backup_initializer="ones")
