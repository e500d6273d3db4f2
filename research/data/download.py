"""Fetching a file over HTTP(S) with checksum verification, written atomically.

A download is written to a temporary file beside the destination and renamed only after its
sha256 matches, so a half-written or tampered file never sits where a loader will find it.
"""
import gzip
import hashlib
import os
import pathlib
import tempfile
import urllib.error
import urllib.request
import zlib

from research.errors import DataError


def sha256_hex(content: bytes) -> str:
  return hashlib.sha256(content).hexdigest()


def checksum(content: bytes, gunzip: bool) -> str:
  """sha256 of the bytes, or of their gzip-decompressed content when `gunzip` is set.

  Checking the decompressed content accepts a file that was re-compressed (as Debian's
  dataset packages are) while still pinning every byte of the data itself.
  """
  if gunzip and content[:2] == b'\x1f\x8b':
    content = gzip.decompress(content)
  return sha256_hex(content)


def fetch(url: str, dest: pathlib.Path, sha256: str, gunzip: bool = False,
          timeout_s: float = 30.0) -> pathlib.Path:
  """Downloads `url` to `dest`, verifying `sha256` (see `checksum`) before it lands there."""
  try:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
      content = response.read()
  except (urllib.error.URLError, OSError, ValueError) as e:
    reason = getattr(e, 'reason', e)
    raise DataError(f'download of {url} failed: {reason}') from None
  try:
    actual = checksum(content, gunzip)
  except (OSError, EOFError, zlib.error):
    actual = 'of a broken gzip stream'

  if actual != sha256:
    raise DataError(f'checksum mismatch for {url}: sha256 {actual}, expected {sha256}')
  dest.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + '.', suffix='.part')
  with os.fdopen(fd, 'wb') as f:
    f.write(content)
  os.replace(tmp, dest)
  return dest
