"""GenerationConfig: transformers' fields, defaults and special-token pickup; validation errors naming the field."""
import json

import numpy as np
import pytest

from refimpl.core.errors import CheckpointError, ConfigError
from refimpl.generation import GLOBAL_DEFAULTS, GenerationConfig

transformers = pytest.importorskip("transformers")


def test_fields_default_to_none_and_fill_from_model_then_global_defaults():
    cfg = GenerationConfig(num_beams=4)
    assert cfg.max_length is None and cfg.top_k is None and cfg.num_beams == 4
    model_defaults = GenerationConfig(eos_token_id=2, max_length=30, num_beams=2)
    full = cfg.fill_defaults(model_defaults)
    assert full.num_beams == 4 and full.max_length == 30 and full.eos_token_id == 2
    assert full.top_k == 50 and full.top_p == 1.0 and full.do_sample is False and full.length_penalty == 1.0
    assert cfg.max_length is None                                   # fill_defaults returns a copy


def test_global_defaults_equal_transformers():
    hf_defaults = transformers.GenerationConfig._get_default_generation_params()
    for key, value in GLOBAL_DEFAULTS.items():
        assert hf_defaults[key] == value, key


@pytest.mark.parametrize("make", ["gpt2", "bart", "t5"])
def test_from_model_config_picks_what_transformers_picks(make):
    hf_cfg = {"gpt2": lambda: transformers.GPT2Config(pad_token_id=3),
              "bart": transformers.BartConfig,
              "t5": lambda: transformers.T5Config(decoder_start_token_id=0)}[make]()
    ref = transformers.GenerationConfig.from_model_config(hf_cfg).to_diff_dict()
    mine = GenerationConfig.from_model_config(hf_cfg).to_diff_dict()
    ref = {k: v for k, v in ref.items() if k in GenerationConfig().to_dict() and v is not None}
    assert mine == ref


def test_round_trip_of_a_transformers_generation_config_file(tmp_path):
    hf = transformers.GenerationConfig(num_beams=4, length_penalty=2.0, no_repeat_ngram_size=3, early_stopping=True,
                                       max_length=142, min_length=56, forced_bos_token_id=0, eos_token_id=[2, 3],
                                       typical_p=1.0)
    hf.save_pretrained(tmp_path)
    cfg = GenerationConfig.from_pretrained(tmp_path)
    for key in ("num_beams", "length_penalty", "no_repeat_ngram_size", "early_stopping", "max_length", "min_length",
                "forced_bos_token_id", "eos_token_id"):
        assert getattr(cfg, key) == getattr(hf, key), key
    (tmp_path / "generation_config.json").write_text(json.dumps({"min_p": 0.1}))
    with pytest.raises(ConfigError, match="min_p"):
        GenerationConfig.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="generation_config.json"):
        GenerationConfig.from_pretrained(tmp_path / "missing")


@pytest.mark.parametrize("settings, mode", [
    (dict(), "greedy_search"), (dict(do_sample=True), "sample"), (dict(num_beams=3), "beam_search"),
    (dict(num_beams=3, do_sample=True), "beam_sample"),
])
def test_generation_mode_as_transformers(settings, mode):
    assert GenerationConfig(**settings).get_generation_mode() == mode
    assert transformers.GenerationConfig(**settings).get_generation_mode() == mode


@pytest.mark.parametrize("settings, match", [
    (dict(num_beams=3, num_return_sequences=4), "num_return_sequences"),
    (dict(num_return_sequences=2), "num_return_sequences"),
    (dict(early_stopping="maybe"), "early_stopping"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(suppress_tokens=[2], forced_eos_token_id=2), "forced_eos_token_id"),
    (dict(suppress_tokens=[2, 3], forced_bos_token_id=3), "forced_bos_token_id"),
])
def test_contradictions_transformers_also_refuses(settings, match):
    with pytest.raises(ConfigError, match=match):
        GenerationConfig(**settings)
    with pytest.raises(ValueError):
        transformers.GenerationConfig(**settings)


@pytest.mark.parametrize("settings, match", [
    (dict(do_sample=True, top_p=0.0), "top_p"),
    (dict(top_p=1.5), "top_p"),
    (dict(do_sample=True, temperature=0.0), "temperature"),
    (dict(num_beams=0), "num_beams"),
    (dict(num_beams=2.0), "num_beams"),
    (dict(top_k=-1), "top_k"),
    (dict(repetition_penalty=-1.0), "repetition_penalty"),
    (dict(length_penalty="long"), "length_penalty"),
    (dict(do_sample="yes"), "do_sample"),
    (dict(eos_token_id=[]), "eos_token_id"),
    (dict(eos_token_id=-2), "eos_token_id"),
    (dict(bad_words_ids=[[]]), "bad_words_ids"),
    (dict(sequence_bias={(1,): "x"}), "sequence_bias"),
    (dict(suppress_tokens=[-1]), "suppress_tokens"),
    (dict(min_p=0.05), "min_p"),
    (dict(num_beam_groups=2), "num_beam_groups"),
    (dict(no_such_field=1), "no_such_field"),
])
def test_invalid_settings_raise_config_error_naming_the_field(settings, match):
    with pytest.raises(ConfigError, match=match):
        GenerationConfig(**settings)


def test_neutral_unsupported_values_and_bookkeeping_keys_are_accepted():
    cfg = GenerationConfig.from_dict({"typical_p": 1.0, "num_beam_groups": 1, "transformers_version": "5.24.0",
                                      "temperature": 0.7, "eos_token_id": np.int64(3)})
    assert cfg.temperature == 0.7 and cfg.eos_token_id == 3
    assert cfg == GenerationConfig(temperature=0.7, eos_token_id=3) and "temperature=0.7" in repr(cfg)
    assert cfg.update(top_k=5, something_else=1) == {"something_else": 1}
