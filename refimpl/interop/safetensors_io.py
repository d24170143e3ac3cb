"""Reader and writer of the safetensors format, in plain NumPy (no `safetensors` package needed).

The format (https://github.com/huggingface/safetensors, README "Format"):

    bytes [0, 8)        N, the header size, little-endian unsigned 64-bit integer
    bytes [8, 8+N)      UTF-8 JSON object
                          {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
                           "__metadata__": {"<str>": "<str>", ...}}          (metadata optional)
    bytes [8+N, EOF)    the data buffer; each tensor's bytes are buffer[begin:end], C order, little endian

Rules this reader enforces, as the reference (Rust) implementation does: N fits in the file and is at
most 100 MB; the header is UTF-8 JSON holding an object; every dtype is known; end - begin equals
prod(shape) * itemsize; the tensors, ordered by offsets, tile the buffer from 0 to its end with no
gap and no overlap; and the buffer ends exactly at the end of the file. Anything else raises
CheckpointError naming the file and the problem. (Duplicate names in the header are also refused.)

dtypes: F64 F32 F16 I64 I32 I16 I8 U64 U32 U16 U8 BOOL C64 load as the NumPy dtype of the same
name. BF16 has no NumPy dtype: it is UPCAST TO float32 on load (exactly: a bfloat16 is the top
16 bits of a float32), so a bf16 checkpoint comes back as float32 arrays. The FP8/FP6/FP4 dtypes of
recent safetensors versions are refused with a clear error (no NumPy equivalent).

The writer produces the same bytes as `safetensors.numpy.save_file` for the same tensors: tensors
ordered by decreasing dtype rank (the reference's alignment order) then by name, compact JSON,
header padded with spaces to a multiple of 8 bytes so every tensor starts 8-byte aligned.
Metadata keys are written sorted (the reference writes them in hash order, so with more than one
metadata key its bytes are not reproducible anyway). float32 arrays can be stored as BF16 on
request (`bfloat16=[names]`, rounded to nearest even like torch's `.to(torch.bfloat16)`).
"""
from __future__ import annotations

import json
import os
import struct
from typing import Dict, Iterable, Mapping, Optional, Tuple

import numpy as np

from ..core.errors import CheckpointError, ConfigError, DTypeError

__all__ = ["load_safetensors", "save_safetensors", "read_safetensors_header", "float32_to_bfloat16_bits",
           "bfloat16_bits_to_float32", "MAX_HEADER_SIZE"]

MAX_HEADER_SIZE = 100_000_000  # the reference refuses larger headers (HeaderTooLarge)

# safetensors dtype code -> little-endian NumPy dtype (BF16 is read as raw uint16 bits, then upcast)
_NUMPY_OF = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"), "C64": np.dtype("<c8"),
}
# valid in the format but with no NumPy dtype to hold them
_UNSUPPORTED = {"F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2"}
# The reference sorts tensors by this enum order, highest first (its "increasing alignment" order).
_RANK = {code: i for i, code in enumerate(
    ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16", "U16",
     "F16", "BF16", "I32", "U32", "F32", "C64", "F64", "I64", "U64"])}
# NumPy dtype kind+size -> safetensors code (for the writer)
_CODE_OF = {("f", 8): "F64", ("f", 4): "F32", ("f", 2): "F16", ("i", 8): "I64", ("i", 4): "I32",
            ("i", 2): "I16", ("i", 1): "I8", ("u", 8): "U64", ("u", 4): "U32", ("u", 2): "U16",
            ("u", 1): "U8", ("b", 1): "BOOL", ("c", 8): "C64"}


# ---------------------------------------------------------------------------------------- bfloat16
def bfloat16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """uint16 bfloat16 bit patterns -> float32 (exact: the bits become the high half of a float32)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def float32_to_bfloat16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> uint16 bfloat16 bit patterns, rounding to nearest, ties to even (as torch does).

    Every NaN becomes the canonical quiet NaN 0x7FC0 (torch does the same); values that round past
    the largest bfloat16 become inf.
    """
    u = np.asarray(x, dtype=np.float32).astype(np.float32, order="C", copy=False).view(np.uint32)
    # add 0x7FFF plus the lowest kept bit, then truncate: round half to even on the dropped 16 bits
    rounded = ((u + np.uint32(0x7FFF) + ((u >> 16) & np.uint32(1))) >> 16).astype(np.uint16)
    return np.where(np.isnan(x), np.uint16(0x7FC0), rounded)  # every NaN -> the canonical quiet NaN


# ---------------------------------------------------------------------------------------- reading
def _fail(path, what: str):
    raise CheckpointError(f"{os.fspath(path)}: not a valid safetensors file: {what}")


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r} in header")
        out[k] = v
    return out


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _parse_header(path, f, file_size: int):
    """Validate the header of an open file; returns (entries sorted by offset, metadata, data start)."""
    if file_size < 8:
        _fail(path, f"truncated header: the file has {file_size} bytes, fewer than the 8 bytes of the "
                    f"header size field")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > file_size - 8:
        _fail(path, f"header size {n} is larger than the file ({file_size} bytes, so at most "
                    f"{file_size - 8} header bytes)")
    if n > MAX_HEADER_SIZE:
        _fail(path, f"header size {n} exceeds the {MAX_HEADER_SIZE}-byte limit of the format")
    raw = f.read(n)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(path, f"header is not valid UTF-8 ({exc})")
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as exc:  # json.JSONDecodeError and our duplicate-key error
        _fail(path, f"header is not valid JSON ({exc})")
    if not isinstance(header, dict):
        _fail(path, f"header must be a JSON object, got {type(header).__name__}")

    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (isinstance(metadata, dict)
                                     and all(isinstance(v, str) for v in metadata.values())):
        _fail(path, f"__metadata__ must be an object of string values, got {metadata!r}")

    entries = []
    for name, info in header.items():
        where = f"tensor {name!r}"
        if not isinstance(info, dict):
            _fail(path, f"{where}: expected an object with dtype/shape/data_offsets, got {info!r}")
        for key in ("dtype", "shape", "data_offsets"):
            if key not in info:
                _fail(path, f"{where}: missing field {key!r}")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if code in _UNSUPPORTED:
            _fail(path, f"{where}: dtype {code} is valid safetensors but has no NumPy equivalent "
                        f"(load it with the safetensors/torch libraries and convert explicitly)")
        if code not in _NUMPY_OF:
            _fail(path, f"{where}: unknown dtype {code!r}; known: {sorted(_NUMPY_OF)}")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            _fail(path, f"{where}: shape must be a list of non-negative integers, got {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(o) for o in offsets)
                or offsets[0] > offsets[1]):
            _fail(path, f"{where}: data_offsets must be [begin, end] with 0 <= begin <= end, got {offsets!r}")
        nbytes = int(np.prod(shape, dtype=object)) * _NUMPY_OF[code].itemsize
        if offsets[1] - offsets[0] != nbytes:
            _fail(path, f"{where}: data_offsets {offsets} span {offsets[1] - offsets[0]} bytes but shape "
                        f"{shape} of dtype {code} needs {nbytes} bytes")
        entries.append((name, code, tuple(shape), offsets[0], offsets[1]))

    # ordered by offsets the tensors must tile [0, buffer end) exactly
    entries.sort(key=lambda e: (e[3], e[4]))
    buffer_len = file_size - 8 - n
    pos, prev = 0, None
    for name, _, _, begin, end in entries:
        if begin < pos:
            _fail(path, f"tensor {name!r} data_offsets [{begin}, {end}] overlap tensor {prev!r} "
                        f"(which ends at {pos})")
        if begin > pos:
            _fail(path, f"tensor {name!r} data_offsets [{begin}, {end}] leave a gap after byte {pos} "
                        f"of the data buffer")
        if end > buffer_len:
            _fail(path, f"tensor {name!r} data_offsets [{begin}, {end}] run past the end of the data buffer "
                        f"({buffer_len} bytes): the file is shorter than its header says "
                        f"({file_size} bytes, needs {8 + n + end})")
        pos, prev = end, name
    if pos != buffer_len:
        _fail(path, f"{buffer_len - pos} trailing bytes after the last tensor (data buffer has "
                    f"{buffer_len} bytes, the header accounts for {pos})")
    return entries, (dict(metadata) if metadata is not None else None), 8 + n


def read_safetensors_header(path) -> Tuple[Dict[str, dict], Optional[Dict[str, str]]]:
    """The validated header of a safetensors file without reading tensor data.

    Returns ({name: {"dtype": code, "shape": tuple, "data_offsets": (begin, end)}}, metadata or None).
    """
    with _open(path) as f:
        entries, metadata, _ = _parse_header(path, f, os.fstat(f.fileno()).st_size)
    return ({name: {"dtype": code, "shape": shape, "data_offsets": (b, e)}
             for name, code, shape, b, e in entries}, metadata)


def _open(path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise CheckpointError(f"{os.fspath(path)}: no such safetensors file") from None
    except IsADirectoryError:
        raise CheckpointError(f"{os.fspath(path)}: is a directory, expected a .safetensors file") from None


def load_safetensors(path, *, with_metadata: bool = False):
    """Read every tensor of a safetensors file into fresh, writable, native-endian NumPy arrays.

    Returns {name: array} in file (offset) order, or ({name: array}, metadata or None) when
    with_metadata=True. BF16 tensors are returned as float32 (exact upcast; see module docstring).
    Raises CheckpointError (naming the file) on any structural problem.
    """
    out = {}
    with _open(path) as f:
        entries, metadata, start = _parse_header(path, f, os.fstat(f.fileno()).st_size)
        for name, code, shape, begin, end in entries:
            stored = _NUMPY_OF[code]
            arr = np.empty(shape, dtype=stored.newbyteorder("="))  # read straight into its own memory
            if end > begin:
                f.seek(start + begin)
                got = f.readinto(arr.reshape(-1).view(np.uint8))
                if got != end - begin:  # the file changed under us since the size check
                    _fail(path, f"tensor {name!r}: expected {end - begin} bytes, read {got}")
                if not np.little_endian and stored.itemsize > 1:  # pragma: no cover (big-endian hosts)
                    arr.byteswap(inplace=True)
            if code == "BF16":
                arr = bfloat16_bits_to_float32(arr)  # (...) uint16 bits -> (...) float32, exact
            out[name] = arr
    return (out, metadata) if with_metadata else out


# ---------------------------------------------------------------------------------------- writing
def _code_for(name: str, arr: np.ndarray, as_bf16: bool) -> str:
    if as_bf16:
        if arr.dtype != np.float32:
            raise DTypeError(f"bfloat16: tensor {name!r} must be float32 to be stored as BF16, got {arr.dtype}")
        return "BF16"
    code = _CODE_OF.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None:
        raise DTypeError(f"tensors[{name!r}]: dtype {arr.dtype} has no safetensors equivalent; "
                         f"supported: {sorted(set(_CODE_OF.values()))} (+ BF16 via bfloat16=[...])")
    return code


def save_safetensors(tensors: Mapping[str, np.ndarray], path, metadata: Optional[Mapping[str, str]] = None,
                     *, bfloat16: Iterable[str] = ()) -> None:
    """Write {name: ndarray} to `path` in safetensors format (byte-identical to safetensors.numpy.save_file).

    Arrays may be non-contiguous or big-endian: they are written as C-order little endian.
    metadata: optional {str: str} stored under "__metadata__" (HF writes {"format": "pt"}).
    bfloat16: names of float32 tensors to store as BF16 (rounded to nearest even).
    """
    if not isinstance(tensors, Mapping):
        raise ConfigError(f"tensors: expected a mapping of name -> numpy array, got {type(tensors).__name__}")
    bf16 = set(bfloat16)
    if not bf16 <= set(tensors):
        raise ConfigError(f"bfloat16: names not in tensors: {sorted(bf16 - set(tensors))}")
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise ConfigError(f"metadata: expected a mapping of str -> str, got {metadata!r}")
    items = []
    for name, arr in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ConfigError(f"tensors: names must be strings other than '__metadata__', got {name!r}")
        if isinstance(arr, np.generic):  # a NumPy scalar: store as a 0-d tensor
            arr = np.asarray(arr)
        if not isinstance(arr, np.ndarray):
            raise DTypeError(f"tensors[{name!r}]: expected a numpy.ndarray, got {type(arr).__name__} "
                             f"(convert torch tensors with refimpl.interop.to_numpy)")
        code = _code_for(name, arr, name in bf16)
        if code == "BF16":
            data = float32_to_bfloat16_bits(arr).astype("<u2")
        else:
            # C order, little endian (astype keeps 0-d arrays 0-d, unlike ascontiguousarray)
            data = arr.astype(arr.dtype.newbyteorder("<"), order="C", copy=False)
        items.append((name, code, data))
    # the reference's order: decreasing dtype rank, then name (Rust byte order == code point order)
    items.sort(key=lambda t: (-_RANK[t[1]], t[0]))

    header = {}
    if metadata is not None:
        header["__metadata__"] = {k: metadata[k] for k in sorted(metadata)}
    offset = 0
    for name, code, data in items:
        header[name] = {"dtype": code, "shape": list(data.shape), "data_offsets": [offset, offset + data.nbytes]}
        offset += data.nbytes
    blob = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # pad so the data buffer starts 8-byte aligned

    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for _, _, data in items:
            if data.size:
                f.write(memoryview(data.reshape(-1).view(np.uint8)))
