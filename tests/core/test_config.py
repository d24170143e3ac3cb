"""PretrainedConfig: fields, extra keys, HF conventions, JSON round trips, against transformers where it applies."""
import json
from typing import List, Optional

import pytest

from refimpl.core.config import PretrainedConfig
from refimpl.core.errors import CheckpointError, ConfigError


class TinyConfig(PretrainedConfig):
    model_type = "tiny"
    attribute_map = {"n_embd": "hidden_size"}

    vocab_size: int = 100
    hidden_size: int = 8
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"
    classifier_dropout: Optional[float] = None
    hidden_sizes: List[int] = [2, 4]
    tie_word_embeddings: bool = False       # a family may change a base default


def test_defaults_and_overrides():
    c = TinyConfig(hidden_size=16)
    assert c.hidden_size == 16 and c.vocab_size == 100 and c.layer_norm_eps == 1e-12
    assert c.tie_word_embeddings is False and c.output_hidden_states is False and c.return_dict is True
    assert c.num_labels == 2 and c.id2label == {0: "LABEL_0", 1: "LABEL_1"} and c.label2id == {"LABEL_0": 0, "LABEL_1": 1}
    assert c.pad_token_id is None and c.problem_type is None


def test_mutable_defaults_are_per_instance():
    a, b = TinyConfig(), TinyConfig()
    a.hidden_sizes.append(8)
    assert b.hidden_sizes == [2, 4] and TinyConfig().hidden_sizes == [2, 4]


def test_unknown_keys_kept_in_extra_and_round_trip(tmp_path):
    d = {"model_type": "tiny", "hidden_size": 4, "use_cache": True, "transformers_version": "5.0.0",
         "rope": {"theta": 1e4}, "chunk_size_feed_forward": 0}
    c = TinyConfig.from_dict(d)
    assert c.extra == {"use_cache": True, "transformers_version": "5.0.0", "rope": {"theta": 1e4},
                       "chunk_size_feed_forward": 0}
    assert c.use_cache is True                              # readable as an attribute, like HF
    out = c.to_dict()
    for k, v in d.items():
        assert out[k] == v
    c.to_json_file(tmp_path / "config.json")
    again = TinyConfig.from_json_file(tmp_path / "config.json")
    assert again == c and again.to_dict() == out
    assert TinyConfig.from_pretrained(tmp_path) == c
    text = (tmp_path / "config.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"   # HF's layout


def test_setting_unknown_attribute_goes_to_extra_and_is_saved():
    c = TinyConfig()
    c.my_flag = 3
    assert c.extra["my_flag"] == 3 and c.to_dict()["my_flag"] == 3
    with pytest.raises(AttributeError, match="nope"):
        c.nope


def test_attribute_map_alias():
    c = TinyConfig.from_dict({"n_embd": 12})
    assert c.hidden_size == 12 and c.n_embd == 12
    c.n_embd = 6
    assert c.hidden_size == 6
    assert "n_embd" not in c.to_dict() and c.to_dict()["hidden_size"] == 6
    with pytest.raises(ConfigError, match="n_embd"):
        TinyConfig(n_embd=3, hidden_size=4)


@pytest.mark.parametrize("key,value,expected", [
    ("hidden_size", "8", "int"), ("hidden_size", 8.0, "int"), ("hidden_size", True, "int"),
    ("layer_norm_eps", "1e-5", "float"), ("hidden_act", 3, "str"), ("classifier_dropout", "0.1", "float or None"),
    ("hidden_sizes", 3, "list"), ("output_hidden_states", 1, "bool"), ("id2label", ["a"], "dict"),
    ("pad_token_id", 1.5, "int"),
])
def test_type_checks_name_the_key(key, value, expected):
    with pytest.raises(ConfigError, match=rf"TinyConfig\.{key}: expected {expected}"):
        TinyConfig(**{key: value})
    c = TinyConfig()
    with pytest.raises(ConfigError, match=key):
        setattr(c, key, value)


def test_none_default_means_optional():
    class Loose(PretrainedConfig):
        dropout: float = None          # HF often writes Optional fields this way

    assert Loose().dropout is None and Loose(dropout=0).dropout == 0.0
    with pytest.raises(ConfigError, match="dropout"):
        Loose(dropout="x")


def test_light_conversions():
    c = TinyConfig(layer_norm_eps=1, hidden_sizes=(3, 5), classifier_dropout=None, eos_token_id=[1, 2])
    assert c.layer_norm_eps == 1.0 and isinstance(c.layer_norm_eps, float)
    assert c.hidden_sizes == [3, 5] and c.eos_token_id == [1, 2]


def test_id2label_keys_become_int_and_num_labels_derived():
    c = TinyConfig.from_dict({"id2label": {"0": "neg", "1": "neu", "2": "pos"}, "label2id": {"neg": 0, "neu": 1, "pos": 2}})
    assert c.id2label == {0: "neg", 1: "neu", 2: "pos"} and c.num_labels == 3
    c.num_labels = 3                       # same size: labels kept
    assert c.id2label[2] == "pos"
    c.num_labels = 5                       # new size: regenerated as HF does
    assert c.id2label == {i: f"LABEL_{i}" for i in range(5)} and c.label2id["LABEL_4"] == 4
    assert TinyConfig(num_labels=4).num_labels == 4
    with pytest.raises(ConfigError, match="id2label"):
        TinyConfig(id2label={"a": "x"})
    with pytest.raises(ConfigError, match="num_labels"):
        TinyConfig(id2label={0: "x"}, num_labels=3)


def test_problem_type_checked():
    assert TinyConfig(problem_type="regression", num_labels=1).problem_type == "regression"
    with pytest.raises(ConfigError, match="problem_type"):
        TinyConfig(problem_type="ranking")
    with pytest.raises(ConfigError, match="num_labels > 1"):
        TinyConfig(problem_type="single_label_classification", num_labels=1)


def test_torch_dtype_is_the_old_name_of_dtype():
    assert TinyConfig(torch_dtype="float32").dtype == "float32"
    assert TinyConfig(torch_dtype="float32", dtype="bfloat16").dtype == "bfloat16"
    d = TinyConfig.from_dict({"torch_dtype": "float16"}).to_dict()
    assert d["dtype"] == "float16" and "torch_dtype" not in d


def test_model_type_mismatch_warns_but_loads():
    with pytest.warns(UserWarning, match="model_type"):
        c = TinyConfig.from_dict({"model_type": "other", "hidden_size": 4})
    assert c.hidden_size == 4 and c.to_dict()["model_type"] == "tiny"


def test_field_without_default_is_refused_at_class_creation():
    with pytest.raises(TypeError, match="default"):
        class Bad(PretrainedConfig):
            width: int


def test_post_init_hook_for_family_checks():
    class Heads(PretrainedConfig):
        hidden_size: int = 8
        num_attention_heads: int = 2

        def __post_init__(self):
            if self.hidden_size % self.num_attention_heads:
                raise ConfigError(f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads")

    Heads(hidden_size=6, num_attention_heads=3)
    with pytest.raises(ConfigError, match="num_attention_heads"):
        Heads(hidden_size=7)


def test_file_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such config"):
        TinyConfig.from_json_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="bad.json"):
        TinyConfig.from_json_file(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(CheckpointError, match="JSON object"):
        TinyConfig.from_json_file(tmp_path / "list.json")
    with pytest.raises(ConfigError, match="config_dict"):
        TinyConfig.from_dict([("a", 1)])


def test_copy_and_equality():
    c = TinyConfig(hidden_size=4, foo="bar")
    d = c.copy()
    assert d == c and d is not c
    d.hidden_size = 5
    assert d != c


def test_reads_a_real_transformers_config(tmp_path):
    transformers = pytest.importorskip("transformers")

    class BertLike(PretrainedConfig):
        model_type = "bert"
        vocab_size: int = 30522
        hidden_size: int = 768
        num_hidden_layers: int = 12
        layer_norm_eps: float = 1e-12
        hidden_act: str = "gelu"
        classifier_dropout: Optional[float] = None
        pad_token_id: Optional[int] = 0

    hf = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_labels=3,
                                 problem_type="multi_label_classification")
    hf.save_pretrained(tmp_path)
    ours = BertLike.from_pretrained(tmp_path)
    assert (ours.vocab_size, ours.hidden_size, ours.num_hidden_layers) == (99, 32, 2)
    assert ours.id2label == hf.id2label and ours.label2id == hf.label2id and ours.num_labels == 3
    assert ours.problem_type == "multi_label_classification"
    # nothing lost: every key transformers wrote comes back out of to_dict
    written = json.loads((tmp_path / "config.json").read_text())
    out = ours.to_dict()
    for k, v in written.items():
        expect = {int(i): x for i, x in v.items()} if k == "id2label" else v
        assert out[k] == expect, k
    # and transformers reads what we write back
    ours.save_pretrained(tmp_path / "again")
    back = transformers.BertConfig.from_pretrained(tmp_path / "again")
    assert back.hidden_size == 32 and back.id2label == hf.id2label and back.num_labels == 3
    assert back.use_cache == hf.use_cache
