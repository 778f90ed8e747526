# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the bytes of an import come from: a file (``content.src``) or an http(s) URL
(``content.url``) on the host that runs the module.

A Source reads the bytes as given, hashes them as they pass (the checksum vendors publish is of
the file as given), recognizes a compressed file by its first bytes (gzip, bzip2, xz, zstd) and
hands out the decompressed bytes, never holding more than a few chunks.  What it reads at the
start (to learn the image's format) is kept and handed out again, so one pass does it all.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bz2
import errno
import hashlib
import lzma
import os
import re
import socket
import struct
import zlib

try:
    from urllib.parse import urlsplit, urlunsplit
except ImportError:  # pragma: no cover - Python 2
    from urlparse import urlsplit, urlunsplit  # type: ignore

try:
    from http.client import HTTPException
except ImportError:  # pragma: no cover - Python 2
    from httplib import HTTPException  # type: ignore

try:
    import zstandard
    # the decompressor's eof and unused_data tell where a frame ends; older releases have neither
    _PROBE = zstandard.ZstdDecompressor().decompressobj()
    if not (hasattr(_PROBE, 'eof') and hasattr(_PROBE, 'unused_data')):
        zstandard = None
    del _PROBE
except ImportError:
    zstandard = None

from ansible.module_utils.urls import open_url

from ansible_collections.kvmops.storage.plugins.module_utils.errors import OperationError, ValidationError
from ansible_collections.kvmops.storage.plugins.module_utils.stream import CHUNK, HOLE_BLOCK, hash_zeros

#: bytes of the decompressed image read at the start to learn its format
HEAD = 512
#: hashlib algorithms content.checksum takes (those of a fixed digest size that every Python has)
CHECKSUM_ALGORITHMS = ('blake2b', 'blake2s', 'md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha3_224', 'sha3_256',
                       'sha3_384', 'sha3_512', 'sha512')
#: first bytes -> compression
MAGIC = ((b'\x1f\x8b', 'gzip'), (b'BZh', 'bzip2'), (b'\xfd7zXZ\x00', 'xz'), (b'\x28\xb5\x2f\xfd', 'zstd'))
ZSTD_MISSING = ('the python zstandard library (a release whose decompressor reports eof and unused_data) is not '
                'installed on the host running the module: install python3-zstandard (Debian, Ubuntu, Fedora) or '
                '"pip install zstandard" for the Python that runs it, '
                'or give an image compressed with xz, gzip or bzip2')
# zstd output is not bounded per call: feed it this much at a time (at most 32 MiB out of RLE blocks)
_ZSTD_FEED = 1024


def parse_checksum(value, option):
    """``algorithm:hexdigest`` -> (algorithm, hexdigest), refused naming ``option``."""
    if ':' not in value:
        raise ValidationError(option, '%s %r: write it as ALGORITHM:HEXDIGEST, e.g. sha256:9f86d08...; algorithms: %s'
                              % (option, value, ', '.join(CHECKSUM_ALGORITHMS)))
    algorithm, digest = value.split(':', 1)
    algorithm, digest = algorithm.strip().lower().replace('-', '_'), digest.strip().lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise ValidationError(option, '%s: unknown algorithm %r; accepted: %s'
                              % (option, algorithm, ', '.join(CHECKSUM_ALGORITHMS)))
    if not re.match(r'^[0-9a-f]+$', digest) or len(digest) != hashlib.new(algorithm).digest_size * 2:
        raise ValidationError(option, '%s: %r is not a %s hex digest' % (option, digest, algorithm))
    return algorithm, digest


def image_of(head, size):
    """(format, virtual size) of an image from its first bytes; ``size`` (None: unknown) is the
    size of a raw image. The virtual size of the formats other than qcow2 is not read (None)."""
    if head[:4] == b'QFI\xfb' and len(head) >= 32:
        return 'qcow2', struct.unpack('>Q', head[24:32])[0]
    for magic, fmt in ((b'QED\x00', 'qed'), (b'KDMV', 'vmdk'), (b'conectix', 'vpc'), (b'vhdxfile', 'vhdx')):
        if head.startswith(magic):
            return fmt, None
    if head[64:68] == b'\x7f\x10\xda\xbe':
        return 'vdi', None
    return 'raw', size


def qcow2_reference(head):
    """What else a qcow2 image whose first bytes are ``head`` reads: ``a backing file`` or ``an external data
    file`` (qcow2 v3 incompatible feature bit 2), or None."""
    if head[:4] != b'QFI\xfb' or len(head) < 80:
        return None
    if struct.unpack('>Q', head[8:16])[0]:
        return 'a backing file'
    if struct.unpack('>I', head[4:8])[0] >= 3 and struct.unpack('>Q', head[72:80])[0] & 4:
        return 'an external data file'
    return None


def compression_of(head):
    """The compression a file starting with ``head`` has (gzip, bzip2, xz, zstd), or None."""
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    return None


def shown_url(url):
    """``url`` as errors and results show it: without user, password and query (which may hold a token)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ''
        if ':' in host:
            host = '[%s]' % host
        if parts.port:
            host = '%s:%d' % (host, parts.port)
        return urlunsplit((parts.scheme, host, parts.path, '...' if parts.query else '', ''))
    except ValueError:
        return '(a URL that cannot be parsed)'


def validate_url(url, option):
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValidationError(option, '%s %s: not a URL (%s); give an http:// or https:// URL'
                              % (option, shown_url(url), exc))
    if parts.scheme not in ('http', 'https') or not parts.netloc:
        raise ValidationError(option, '%s %s: give an http:// or https:// URL' % (option, shown_url(url)))


# ---- decompression ------------------------------------------------------------------------------

class _Decoder:
    """One compressed member (gzip member, bzip2 stream, xz stream, zstd frame): ``decompress(data,
    limit)`` takes more input and returns output (about ``limit`` bytes at most), keeping the input it
    has not used; ``eof`` once the member ends, with the input after it in ``unused_data``."""

    def __init__(self, compression):
        self.compression = compression
        self._pending = b''
        if compression == 'gzip':
            self._dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif compression == 'bzip2':
            self._dec = bz2.BZ2Decompressor()
        elif compression == 'xz':
            self._dec = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        else:
            self._dec = zstandard.ZstdDecompressor().decompressobj()

    @property
    def eof(self):
        return self._dec.eof

    @property
    def unused_data(self):
        return self._dec.unused_data + (self._pending if self.compression == 'zstd' else b'')

    @property
    def needs_input(self):
        if self.compression == 'gzip':
            return not self._dec.unconsumed_tail
        if self.compression == 'zstd':
            return not self._pending
        return self._dec.needs_input

    def decompress(self, data, limit):
        if self.compression == 'gzip':
            return self._dec.decompress(self._dec.unconsumed_tail + data, limit)
        if self.compression == 'zstd':
            self._pending += data
            out = []
            size = 0
            while self._pending and not self._dec.eof and size < limit:
                piece, self._pending = self._pending[:_ZSTD_FEED], self._pending[_ZSTD_FEED:]
                chunk = self._dec.decompress(piece)
                out.append(chunk)
                size += len(chunk)
            return b''.join(out)
        if self._dec.eof:
            return b''
        return self._dec.decompress(data, limit)


# ---- sources ------------------------------------------------------------------------------------

class Source:
    """The bytes of a file or URL: ``read(n)`` the image's bytes (decompressed), ``head`` its first
    bytes, ``compression``, ``length`` (bytes as given when known: the file's size, Content-Length),
    ``given`` (bytes read as given so far), ``digest``/``image_digest`` (hex digests of what was read,
    as given and as decompressed, with the algorithm asked for) and ``finish()`` (the checks of a
    complete transfer)."""

    def __init__(self, raw, what, length=None, algorithm=None, close=None, hole=None):
        self.what = what
        self._hole = hole  # a file's: the bytes of the hole at its position, skipped (0: none there)
        self.length = length
        self.given = 0
        self.out = 0
        self._raw = raw
        self._close = close
        self._hash = hashlib.new(algorithm) if algorithm else None
        self._image_hash = hashlib.new(algorithm) if algorithm else None
        self._input = self._read_raw(CHUNK)
        self.compression = compression_of(self._input)
        if self.compression == 'zstd' and zstandard is None:
            self.close()
            raise OperationError('%s is compressed with zstd, and %s' % (what, ZSTD_MISSING))
        self._decoder = _Decoder(self.compression) if self.compression else None
        self._raw_eof = False
        self._buffer = b''
        while len(self._buffer) < HEAD:
            data = self._next(HEAD)
            if not data:
                break
            self._buffer += data
        self.head = self._buffer[:HEAD]

    # -- raw bytes
    def _read_raw(self, nbytes):
        try:
            data = self._raw(nbytes)
        except (HTTPException, socket.error, socket.timeout, IOError, OSError) as exc:
            raise OperationError('reading %s stopped after %d bytes%s: %s'
                                 % (self.what, self.given, self._of_length(), _reason(exc)))
        self.given += len(data)
        if self._hash is not None:
            self._hash.update(data)
        return data

    def _of_length(self):
        return ' of %d' % self.length if self.length is not None else ''

    # -- decompressed bytes
    def _next(self, limit):
        """Up to about ``limit`` more bytes of the image; b'' at its end."""
        if self._decoder is None:
            if self._input:
                data, self._input = self._input, b''
            elif self._raw_eof:
                return b''
            else:
                data = self._read_raw(limit)
                self._raw_eof = not data
            return data
        while True:
            if self._decoder.eof:
                rest = self._decoder.unused_data + self._input
                self._input = b''
                while True:
                    rest = rest.lstrip(b'\0')  # zero padding after a member (xz stream padding, gzip's too)
                    if rest or self._raw_eof:
                        break
                    rest = self._read_raw(CHUNK)
                    self._raw_eof = not rest
                if not rest:
                    return b''
                if compression_of(rest) != self.compression:
                    raise OperationError('%s: %d bytes after the end of its %s data are not %s data'
                                         % (self.what, len(rest), self.compression, self.compression))
                self._decoder = _Decoder(self.compression)
                self._input = rest
            data, self._input = self._input, b''
            if not data and self._decoder.needs_input:
                if self._raw_eof:
                    out = self._decoder.decompress(b'', limit)
                    if out:
                        return out
                    raise OperationError('%s ends in the middle of its %s data after %d bytes: the file is truncated '
                                         'or the transfer stopped' % (self.what, self.compression, self.given))
                data = self._read_raw(CHUNK)
                self._raw_eof = not data
            try:
                out = self._decoder.decompress(data, limit)
            except (EOFError, IOError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
                raise OperationError('%s: its %s data is corrupt after %d bytes: %s'
                                     % (self.what, self.compression, self.given, exc))
            except Exception as exc:  # zstandard.ZstdError
                if zstandard is not None and isinstance(exc, zstandard.ZstdError):
                    raise OperationError('%s: its zstd data is corrupt after %d bytes: %s' % (self.what, self.given, exc))
                raise
            if out:
                return out

    def read(self, nbytes):
        """Up to ``nbytes`` bytes of the image; b'' at its end."""
        if self._buffer:
            data, self._buffer = self._buffer[:nbytes], self._buffer[nbytes:]
        else:
            data = self._next(nbytes)
            if len(data) > nbytes:
                data, self._buffer = data[:nbytes], data[nbytes:]
        self.out += len(data)
        if self._image_hash is not None:
            self._image_hash.update(data)
        return data

    def skip_hole(self):
        """The zero bytes of the image from here that a plain file holds as a hole (whole HOLE_BLOCKs), skipped
        without reading them and hashed as zeros; 0 where none is known (a compressed file, a URL)."""
        if self._hole is None or self._decoder is not None or self._buffer or self._input or self._raw_eof:
            return 0
        length = self._hole()
        if length:
            self.given += length
            self.out += length
            for digest in (self._hash, self._image_hash):
                if digest is not None:
                    hash_zeros(digest, length)
        return length

    def finish(self):
        """After the last read: refuse a transfer shorter than the length announced."""
        if self.length is not None and self.given != self.length:
            raise OperationError('reading %s stopped after %d bytes of %d: the transfer was interrupted or the file '
                                 'changed' % (self.what, self.given, self.length))

    @property
    def digest(self):
        return self._hash.hexdigest() if self._hash is not None else None

    @property
    def image_digest(self):
        return self._image_hash.hexdigest() if self._image_hash is not None else None

    def close(self):
        if self._close is not None:
            try:
                self._close()
            except Exception:  # pylint: disable=broad-except
                pass
            self._close = None


def _file_hole(handle, size):
    """skip_hole of the unbuffered file ``handle`` of ``size`` bytes: the whole HOLE_BLOCKs of the hole at its
    position, which it moves past them. The last block of a file that ends in a hole is left to be read."""
    fd = handle.fileno()

    def hole():
        position = os.lseek(fd, 0, os.SEEK_CUR)
        try:
            data = os.lseek(fd, position, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # SEEK_DATA not supported here: no hole known
                os.lseek(fd, position, os.SEEK_SET)
                return 0
            data = size - HOLE_BLOCK  # a hole up to the end
        length = max(0, data - position) // HOLE_BLOCK * HOLE_BLOCK
        os.lseek(fd, position + length, os.SEEK_SET)
        return length
    return hole


def _reason(exc):
    text = str(exc) or type(exc).__name__
    if type(exc).__name__ == 'IncompleteRead':
        return 'the connection closed early'
    return text


def open_file(path, option, algorithm=None):
    """A Source over the file ``path``; refused naming ``option`` when it is missing, unreadable or empty."""
    if not os.path.isfile(path):
        raise ValidationError(option, '%s %r: no such file on the host running the module' % (option, path))
    if not os.access(path, os.R_OK):
        raise ValidationError(option, '%s %r is not readable' % (option, path))
    size = os.path.getsize(path)
    if size == 0:
        raise ValidationError(option, '%s %r is empty' % (option, path))
    handle = open(path, 'rb', buffering=0)
    try:
        hole = _file_hole(handle, size) if hasattr(os, 'SEEK_DATA') else None
        return Source(handle.read, path, length=size, algorithm=algorithm, close=handle.close, hole=hole)
    except Exception:
        handle.close()
        raise


def open_http(url, option, timeout=30, validate_certs=True, ca_path=None, username=None, password=None,
              algorithm=None):
    """A Source over the body of a GET of ``url`` (ansible's urls: proxies from the environment,
    netrc, certificates checked against the system's or ``ca_path``'s CA bundle); an HTTP error, a
    refused connection or a timeout is an OperationError naming the URL without its credentials."""
    shown = shown_url(url)
    try:
        response = open_url(url, method='GET', timeout=timeout, validate_certs=validate_certs, ca_path=ca_path,
                            url_username=username, url_password=password, decompress=False,
                            http_agent='kvmops.storage')
    except Exception as exc:  # pylint: disable=broad-except
        text = _http_failure(exc).replace(url, shown)
        if password:
            text = text.replace(password, '********')
        raise OperationError('%s %s: %s' % (option, shown, text))
    length = response.headers.get('Content-Length')
    try:
        length = int(length) if length is not None else None
    except ValueError:
        length = None
    if response.headers.get('Content-Encoding', 'identity').lower() not in ('identity', ''):
        # sent compressed for the transfer: the checksum and the magic bytes are of the file itself
        response.close()
        raise OperationError('%s %s: the server sent the body with Content-Encoding %s, which changes its bytes; '
                             'serve the file as it is' % (option, shown, response.headers.get('Content-Encoding')))
    try:
        return Source(response.read, '%s %s' % (option, shown), length=length, algorithm=algorithm,
                      close=response.close)
    except Exception:
        response.close()
        raise


def _http_failure(exc):
    code = getattr(exc, 'code', None)
    if code is not None:
        return 'HTTP %s %s' % (code, getattr(exc, 'reason', '') or '')
    reason = getattr(exc, 'reason', None)
    if isinstance(reason, (socket.timeout,)) or isinstance(exc, socket.timeout):
        return 'no answer within the timeout'
    text = str(reason if reason is not None else exc)
    return text or type(exc).__name__
