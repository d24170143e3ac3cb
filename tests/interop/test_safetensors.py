"""Our safetensors reader/writer against the reference `safetensors` library, plus corrupt files."""
import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refimpl.core.errors import CheckpointError, ConfigError, DTypeError
from refimpl.interop.safetensors_io import (MAX_HEADER_SIZE, bfloat16_bits_to_float32, float32_to_bfloat16_bits,
                                            load_safetensors, read_safetensors_header, save_safetensors)

safetensors_numpy = pytest.importorskip("safetensors.numpy")
from safetensors import safe_open  # noqa: E402

NUMPY_DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
                np.uint64, np.uint32, np.uint16, np.uint8, np.bool_, np.complex64]


def _sample(dtype, shape, rng):
    dtype = np.dtype(dtype)
    return np.asarray(_draw(dtype, shape, rng), dtype=dtype)  # 0-d draws come back as NumPy scalars


def _draw(dtype, shape, rng):
    if dtype.kind == "b":
        return rng.random(shape) > 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _all_dtypes_dict(rng):
    tensors = {}
    for i, dt in enumerate(NUMPY_DTYPES):
        name = np.dtype(dt).name
        tensors[f"{name}.matrix"] = _sample(dt, (3, 2 + i % 3), rng)
        tensors[f"{name}.scalar"] = _sample(dt, (), rng)        # 0-d
        tensors[f"{name}.empty"] = _sample(dt, (0, 4), rng)     # no bytes at all
    return tensors


def _assert_same(a: dict, b: dict):
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("metadata", [None, {"format": "pt"}])
def test_bytes_identical_to_reference_writer(tmp_path, rng, metadata):
    tensors = _all_dtypes_dict(rng)
    save_safetensors(tensors, tmp_path / "ours.safetensors", metadata=metadata)
    safetensors_numpy.save_file(tensors, str(tmp_path / "ref.safetensors"), metadata=metadata)
    assert (tmp_path / "ours.safetensors").read_bytes() == (tmp_path / "ref.safetensors").read_bytes()


def test_ours_to_reference_reader(tmp_path, rng):
    tensors = _all_dtypes_dict(rng)
    meta = {"format": "pt", "note": "hé ✓", "empty": ""}
    save_safetensors(tensors, tmp_path / "a.safetensors", metadata=meta)
    _assert_same(safetensors_numpy.load_file(str(tmp_path / "a.safetensors")), tensors)
    with safe_open(str(tmp_path / "a.safetensors"), framework="np") as f:
        assert f.metadata() == meta


def test_reference_to_ours(tmp_path, rng):
    tensors = _all_dtypes_dict(rng)
    meta = {"format": "pt", "a": "1", "b": "2"}
    safetensors_numpy.save_file(tensors, str(tmp_path / "a.safetensors"), metadata=meta)
    loaded, got_meta = load_safetensors(tmp_path / "a.safetensors", with_metadata=True)
    _assert_same(loaded, tensors)
    assert got_meta == meta
    for arr in loaded.values():  # own, writable, aligned memory (not views of the file)
        assert arr.flags.writeable and arr.flags.owndata and arr.flags.aligned
    header, meta2 = read_safetensors_header(tmp_path / "a.safetensors")
    assert meta2 == meta
    assert header["float32.matrix"]["dtype"] == "F32" and header["float32.matrix"]["shape"] == (3, 2 + 1)


def test_no_metadata_and_empty_file(tmp_path):
    save_safetensors({}, tmp_path / "e.safetensors")
    assert (tmp_path / "e.safetensors").read_bytes() == safetensors_numpy.save({})
    assert load_safetensors(tmp_path / "e.safetensors", with_metadata=True) == ({}, None)


def test_empty_metadata_without_tensors(tmp_path):
    """safetensors 0.8 writes '{},"__metadata__":{}}' here (invalid JSON it cannot read back); we write valid JSON."""
    save_safetensors({}, tmp_path / "e.safetensors", metadata={})
    assert load_safetensors(tmp_path / "e.safetensors", with_metadata=True) == ({}, {})
    with safe_open(str(tmp_path / "e.safetensors"), framework="np") as f:
        assert f.metadata() == {} and list(f.keys()) == []


def test_non_contiguous_and_big_endian_inputs(tmp_path, rng):
    base = rng.standard_normal((4, 6))
    tensors = {"t": base.T, "strided": base[::2, 1::3], "be": base.astype(">f4"), "be_i": np.arange(5, dtype=">i8")}
    save_safetensors(tensors, tmp_path / "a.safetensors")
    ref = safetensors_numpy.load_file(str(tmp_path / "a.safetensors"))
    ours = load_safetensors(tmp_path / "a.safetensors")
    for k, v in tensors.items():
        np.testing.assert_array_equal(ref[k], v)
        np.testing.assert_array_equal(ours[k], v)
        assert ours[k].dtype == v.dtype.newbyteorder("=")


def test_names_sorted_like_reference_with_unicode(tmp_path, rng):
    tensors = {n: rng.standard_normal(2).astype(np.float32) for n in ["b", "a", "é", "Z", "a.10", "a.9", "\"q\"\n"]}
    save_safetensors(tensors, tmp_path / "a.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes() == safetensors_numpy.save(tensors)


# ------------------------------------------------------------------------------------ bfloat16
def _torch():
    return pytest.importorskip("torch")


def _bf16_probe_values():
    special = np.array([0.0, -0.0, 1.0, -1.0, 3.14159, 1e-40, -1e-45, 3.3895e38, 3.4e38, np.inf, -np.inf,
                        np.nan, 1.00390625, 1.01171875, 65504.0], dtype=np.float32)
    # ties: 0x3F808000 is exactly between two bfloat16 values (rounds to even), and its neighbours
    ties = np.array([0x3F808000, 0x3F818000, 0x3F808001, 0x3F807FFF, 0xBF808000], dtype=np.uint32).view(np.float32)
    rand = np.random.default_rng(0).standard_normal(200).astype(np.float32) * 10.0 ** np.arange(-20, 20, 0.2).astype(
        np.float32)
    return np.concatenate([special, ties, rand])


def test_bf16_from_reference_loads_as_float32(tmp_path):
    torch = _torch()
    from safetensors.torch import save_file as torch_save_file

    x = torch.from_numpy(_bf16_probe_values()).reshape(5, -1).to(torch.bfloat16)
    torch_save_file({"w": x, "s": x[0, 0].clone(), "e": x[:0].clone()}, str(tmp_path / "b.safetensors"))
    loaded = load_safetensors(tmp_path / "b.safetensors")
    for k, t in {"w": x, "s": x[0, 0], "e": x[:0]}.items():
        expected = t.float().numpy()
        assert loaded[k].dtype == np.float32 and loaded[k].shape == expected.shape
        np.testing.assert_array_equal(loaded[k], expected)   # exact (NaN positions too)


def test_bf16_written_by_us_matches_torch_rounding(tmp_path):
    torch = _torch()
    from safetensors.torch import load_file as torch_load_file
    from safetensors.torch import save as torch_save

    x32 = _bf16_probe_values().reshape(5, -1)
    save_safetensors({"w": x32, "other": np.arange(3.0)}, tmp_path / "b.safetensors", bfloat16=["w"])
    got = torch_load_file(str(tmp_path / "b.safetensors"))
    expected = torch.from_numpy(x32).to(torch.bfloat16)
    assert got["w"].dtype == torch.bfloat16
    nan = np.isnan(x32)
    # bit for bit, NaN aside: torch's own NaN pattern differs between its scalar (0x7FC0) and
    # vectorised (0xFFFF) paths, we always write the canonical 0x7FC0
    got_bits, exp_bits = got["w"].view(torch.int16).numpy(), expected.view(torch.int16).numpy()
    np.testing.assert_array_equal(got_bits[~nan], exp_bits[~nan])
    assert np.all(got_bits[nan] == 0x7FC0) and torch.isnan(got["w"]).numpy()[nan].all()
    # and without NaN the whole file is what safetensors.torch writes for the same bf16 tensor
    finite = np.where(nan, 0.0, x32).astype(np.float32)
    save_safetensors({"w": finite, "other": np.arange(3.0)}, tmp_path / "c.safetensors", bfloat16=["w"])
    ref = torch_save({"w": torch.from_numpy(finite).to(torch.bfloat16), "other": torch.arange(3.0, dtype=torch.float64)})
    assert (tmp_path / "c.safetensors").read_bytes() == ref


def test_bf16_bit_helpers_round_trip():
    bits = np.arange(0, 2 ** 16, dtype=np.uint32).astype(np.uint16)
    f = bfloat16_bits_to_float32(bits)
    back = float32_to_bfloat16_bits(f)
    finite = ~np.isnan(f)
    np.testing.assert_array_equal(back[finite], bits[finite])   # every bfloat16 is exact in float32
    assert np.all(back[~finite] == 0x7FC0)


# ------------------------------------------------------------------------------------ corrupt files
def _raw(path, header, data=b"", n=None):
    """Write a file byte by byte: header may be a dict (JSON-encoded) or raw bytes."""
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob) if n is None else n) + blob + data)
    return path


def _f32(name="w", shape=(2,), offsets=(0, 8)):
    return {name: {"dtype": "F32", "shape": list(shape), "data_offsets": list(offsets)}}


CORRUPT = {
    # name: (writer(path), regex the message must contain, whether the reference library rejects it too)
    "truncated_header": (lambda p: p.write_bytes(b"\x10\x00\x00"), "truncated header", True),
    "header_size_beyond_file": (lambda p: _raw(p, _f32(), b"\0" * 8, n=10_000), "larger than the file", True),
    "invalid_json": (lambda p: _raw(p, b'{"w": {"dtype": "F32", "shape": [2], '), "not valid JSON", True),
    "invalid_utf8": (lambda p: _raw(p, b'{"\xff\xfe": 1}'), "not valid UTF-8", True),
    "not_an_object": (lambda p: _raw(p, b"[1, 2, 3]"), "must be a JSON object", True),
    "unknown_dtype": (lambda p: _raw(p, {"w": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
                      "unknown dtype 'F33'", True),
    "fp8_dtype": (lambda p: _raw(p, {"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, b"\0" * 2),
                  "no NumPy equivalent", False),
    "size_mismatch": (lambda p: _raw(p, _f32(shape=(3,), offsets=(0, 8)), b"\0" * 8), "needs 12 bytes", True),
    "offsets_out_of_bounds": (lambda p: _raw(p, _f32(offsets=(0, 8)), b"\0" * 4), "run past the end", True),
    "file_shorter_than_offsets": (lambda p: _raw(p, {**_f32("a", offsets=(0, 8)), **_f32("b", offsets=(8, 16))},
                                                 b"\0" * 12), "shorter than its header says", True),
    "overlapping": (lambda p: _raw(p, {**_f32("a", offsets=(0, 8)), **_f32("b", offsets=(4, 12))}, b"\0" * 12),
                    "overlap tensor 'a'", True),
    "gap": (lambda p: _raw(p, {**_f32("a", offsets=(0, 8)), **_f32("b", offsets=(12, 20))}, b"\0" * 20),
            "leave a gap", True),
    "trailing_bytes": (lambda p: _raw(p, _f32(), b"\0" * 12), "4 trailing bytes", True),
    "negative_shape": (lambda p: _raw(p, _f32(shape=(-2,)), b"\0" * 8), "shape must be a list", True),
    "float_shape": (lambda p: _raw(p, _f32(shape=(2.0,)), b"\0" * 8), "shape must be a list", True),
    "reversed_offsets": (lambda p: _raw(p, _f32(offsets=(8, 0)), b"\0" * 8), "begin <= end", True),
    "three_offsets": (lambda p: _raw(p, {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 8]}},
                                     b"\0" * 8), "data_offsets must be", True),
    "missing_field": (lambda p: _raw(p, {"w": {"dtype": "F32", "shape": [2]}}, b"\0" * 8), "missing field", True),
    "entry_not_object": (lambda p: _raw(p, {"w": [1, 2]}), "expected an object", True),
    "bad_metadata": (lambda p: _raw(p, {"__metadata__": {"a": 1}, **_f32()}, b"\0" * 8), "__metadata__", True),
    "duplicate_name": (lambda p: _raw(p, b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                         b'"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', b"\0" * 8),
                       "duplicate key 'w'", None),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_file_raises_checkpoint_error_naming_file(tmp_path, case):
    write, message, reference_rejects = CORRUPT[case]
    path = tmp_path / f"{case}.safetensors"
    write(path)
    with pytest.raises(CheckpointError, match=case) as exc:   # the file name is in the message
        load_safetensors(path)
    assert message in str(exc.value)
    assert str(path) in str(exc.value)
    if reference_rejects:  # the rule is the reference's rule, not ours alone
        with pytest.raises(Exception):
            safetensors_numpy.load_file(str(path))


def test_truncated_valid_file_every_cut(tmp_path, rng):
    """Cut a real file at every length: each prefix is refused with a CheckpointError, never a crash."""
    good = tmp_path / "good.safetensors"
    save_safetensors({"a": rng.standard_normal((2, 3)), "b": np.arange(4, dtype=np.int16)}, good)
    data = good.read_bytes()
    for cut in range(len(data)):
        bad = tmp_path / "cut.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="cut.safetensors"):
            load_safetensors(bad)


def test_header_over_the_format_limit(tmp_path):
    path = tmp_path / "huge.safetensors"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", MAX_HEADER_SIZE + 1))
        f.truncate(MAX_HEADER_SIZE + 64)  # sparse: nothing is really written
    with pytest.raises(CheckpointError, match="limit"):
        load_safetensors(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no such"):
        load_safetensors(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="directory"):
        load_safetensors(tmp_path)


# ------------------------------------------------------------------------------------ bad save arguments
def test_save_rejects_bad_arguments(tmp_path):
    p = tmp_path / "x.safetensors"
    with pytest.raises(DTypeError, match="'obj'"):
        save_safetensors({"obj": np.array(["a"], dtype=object)}, p)
    with pytest.raises(DTypeError, match="'lst'"):
        save_safetensors({"lst": [1.0, 2.0]}, p)
    with pytest.raises(DTypeError, match="float32"):
        save_safetensors({"w": np.zeros(2)}, p, bfloat16=["w"])
    with pytest.raises(ConfigError, match="bfloat16"):
        save_safetensors({"w": np.zeros(2, np.float32)}, p, bfloat16=["v"])
    with pytest.raises(ConfigError, match="metadata"):
        save_safetensors({"w": np.zeros(2)}, p, metadata={"a": 1})
    with pytest.raises(ConfigError, match="__metadata__"):
        save_safetensors({"__metadata__": np.zeros(2)}, p)
    with pytest.raises(ConfigError, match="tensors"):
        save_safetensors([np.zeros(2)], p)


# ------------------------------------------------------------------------------------ property test
_dtypes = st.sampled_from([np.dtype(d) for d in NUMPY_DTYPES])
_arrays = _dtypes.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
_names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda s: s != "__metadata__")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tensors=st.dictionaries(_names, _arrays, max_size=6),
       metadata=st.none() | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=1))
def test_property_round_trip(tmp_path, tensors, metadata):
    path = tmp_path / "p.safetensors"
    save_safetensors(tensors, path, metadata=metadata)
    loaded, meta = load_safetensors(path, with_metadata=True)
    assert meta == metadata
    _assert_same_with_nan(loaded, tensors)
    _assert_same_with_nan(safetensors_numpy.load_file(str(path)), tensors)
    if tensors or metadata != {}:  # see test_empty_metadata_without_tensors for that one case
        assert path.read_bytes() == safetensors_numpy.save(tensors, metadata=metadata)


def _assert_same_with_nan(a, b):
    assert set(a) == set(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
        # compare raw bytes: NaN payloads and -0.0 must survive exactly
        assert a[k].tobytes() == np.ascontiguousarray(b[k]).tobytes()
