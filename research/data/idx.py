"""The IDX file format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

Header: two zero bytes, a type code, the number of dimensions, then one big-endian uint32 per
dimension; the body is the array in C order. Files may be gzipped. Every way a file can be
wrong (bad magic, unknown type, truncated body, trailing bytes, broken gzip) is a `DataError`
naming the file.
"""
import gzip
import pathlib
import struct
import zlib

import numpy as np

from research.errors import DataError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: '>i2', 0x0C: '>i4', 0x0D: '>f4', 0x0E: '>f8'}


def read_bytes(path: pathlib.Path) -> bytes:
  """The file's content, decompressed when it is gzipped."""
  try:
    raw = path.read_bytes()
  except OSError as e:
    raise DataError(f'cannot read {path}: {e.strerror}') from None
  if raw[:2] != b'\x1f\x8b':
    return raw
  try:
    return gzip.decompress(raw)
  except (OSError, EOFError, zlib.error) as e:
    raise DataError(f'{path}: corrupt or truncated gzip data ({e})') from None


def parse_idx(content: bytes, name: str = 'IDX data') -> np.ndarray:
  """Parses the bytes of an IDX file into an array."""
  if len(content) < 4:
    raise DataError(f'{name}: truncated IDX file ({len(content)} bytes, no header)')
  zero1, zero2, type_code, ndim = content[:4]
  if zero1 != 0 or zero2 != 0 or type_code not in _DTYPES or ndim == 0:
    raise DataError(f'{name}: not an IDX file (bad magic number 0x{content[:4].hex()})')
  header_len = 4 + 4 * ndim
  if len(content) < header_len:
    raise DataError(f'{name}: truncated IDX header')
  shape = struct.unpack(f'>{ndim}I', content[4:header_len])
  dtype = np.dtype(_DTYPES[type_code])
  expected = int(np.prod(shape)) * dtype.itemsize
  body = len(content) - header_len
  if body != expected:
    kind = 'truncated' if body < expected else 'has trailing bytes'
    raise DataError(f'{name}: IDX file {kind} (shape {shape} needs {expected} bytes, '
                    f'found {body})')
  array = np.frombuffer(content, dtype=dtype, offset=header_len).reshape(shape)
  return array.astype(dtype.newbyteorder('='))


def write_idx(path: pathlib.Path, array: np.ndarray) -> None:
  """Writes an array as an IDX file (gzipped when the name ends in .gz); used by tests."""
  codes = {np.dtype(v).newbyteorder('='): k for k, v in _DTYPES.items()}
  code = codes[array.dtype]
  header = bytes([0, 0, code, array.ndim]) + struct.pack(f'>{array.ndim}I', *array.shape)
  big_endian = array.astype(np.dtype(_DTYPES[code]))
  content = header + big_endian.tobytes()
  path.write_bytes(gzip.compress(content, mtime=0) if path.suffix == '.gz' else content)
