# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bytes into and out of a volume through libvirt streams (virStorageVolUpload/Download).

The module runs where libvirt is reached from, so the bytes come from (and go to) that host:
libvirt carries them over its connection to the daemon.  This module knows no source: it sends
what a reader gives and hashes what the volume holds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible_collections.kvmops.storage.plugins.module_utils.connection import VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM, call

CHUNK = 1024 * 1024


# the unit in which runs of zero bytes are found and not sent (a sparse upload)
HOLE_BLOCK = 64 * 1024
# the most data bytes one data section of a sparse upload holds
_DATA_SECTION = CHUNK
_ZEROS = bytes(HOLE_BLOCK)


class _Sections:
    """The sections of what ``read(nbytes)`` returns, for virStream.sparseSendAll: data, and holes
    (whole HOLE_BLOCKs of zero bytes). The last block of a source that ends in zeros is data, so that
    the file grows to the source's full length. libvirt truncates the file at the end of each hole, so
    a file of ``size`` bytes that the source does not fill ends in a hole up to that size."""

    def __init__(self, read, size=0, skip=None):
        self._read = read
        self._skip = skip  # bytes of zeros the source skips without reading them (a file's hole), or None
        self._size = size
        self._position = 0  # bytes sent and skipped
        self.data = b''
        self.hole = 0
        self._zeros = 0  # zero bytes read ahead of the current section
        self._eof = False
        self.holes = 0  # hole bytes not sent

    def _block(self):
        """The next HOLE_BLOCK bytes (fewer at the end, b'' after it)."""
        parts, got = [], 0
        while got < HOLE_BLOCK and not self._eof:
            part = self._read(HOLE_BLOCK - got)
            if not part:
                self._eof = True
                break
            parts.append(part)
            got += len(part)
        return b''.join(parts)

    def _fill(self):
        zeros, self._zeros = self._zeros, 0
        data = []
        size = 0
        while size < _DATA_SECTION:
            if self._skip is not None and not data and not self._eof:
                skipped = self._skip()
                if skipped:
                    zeros += skipped
                    continue
            block = self._block()
            if not block:
                if not zeros and not data and self._position < self._size:
                    self.hole = self._size - self._position  # the rest of the file, as it was made
                    return
                if zeros and not data:  # trailing zeros: all but the last block a hole
                    tail = min(zeros, HOLE_BLOCK)
                    self.hole, self.data = zeros - tail, _ZEROS[:tail]
                    return
                break
            if len(block) == HOLE_BLOCK and block == _ZEROS:
                if data:
                    self._zeros = HOLE_BLOCK  # the hole after this data section
                    break
                zeros += HOLE_BLOCK
                continue
            data.append(block)
            size += len(block)
            if self._eof:
                break
        if not data:
            # zeros that were not a whole block stay data (they are the end)
            self.hole, self.data = 0, _ZEROS[:zeros] if zeros else b''
            return
        self.hole, self.data = zeros, b''.join(data)

    def section(self, _stream, _opaque):
        if not self.hole and not self.data:
            self._fill()
        if self.hole:
            return [False, self.hole]
        return [True, len(self.data)]

    def skip(self, _stream, length, _opaque):
        self.hole -= length
        self.holes += length
        self._position += length
        return 0

    def send(self, _stream, nbytes, _opaque):
        data, self.data = self.data[:nbytes], self.data[nbytes:]
        self._position += len(data)
        return data


def send(conn, vol, read, length, what, sparse=False, size=0, skip=None):
    """Write into ``vol`` from offset 0 what ``read(nbytes)`` returns until it returns ``b''``;
    ``length`` bounds the upload (0: no bound). ``what`` names the source in errors. With
    ``sparse`` (a volume that is a file of ``size`` bytes), runs of zero bytes are sent as holes,
    which libvirt skips in the file (libvirt's sparse stream), and the file keeps its size when the
    source is shorter; ``skip()`` (optional) skips the zero bytes the source knows it has next
    (a file's hole) and returns how many. Returns the number of bytes not sent (holes).
    The stream is aborted on any failure, the reader's included."""
    name = vol.name()
    stream = call('opening a stream', conn.newStream, 0)
    try:
        if sparse:
            call('starting the upload into volume %s' % name, vol.upload, stream, 0, length,
                 VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
            sections = _Sections(read, size, skip)
            call('uploading %s into volume %s' % (what, name), stream.sparseSendAll, sections.send,
                 sections.section, sections.skip, None)
            holes = sections.holes
        else:
            call('starting the upload into volume %s' % name, vol.upload, stream, 0, length, 0)

            def _source(_stream, nbytes, _opaque):
                return read(min(nbytes, CHUNK))
            call('uploading %s into volume %s' % (what, name), stream.sendAll, _source, None)
            holes = 0
        call('finishing the upload into volume %s' % name, stream.finish)
    except Exception:
        abort(stream)
        raise
    return holes


def volume_digest(conn, vol, size, algorithm):
    """The ``algorithm`` hex digest of the first ``size`` bytes of ``vol``, read back through a stream."""
    digest = hashlib.new(algorithm)
    stream = call('opening a stream', conn.newStream, 0)
    try:
        call('starting to read volume %s back' % vol.name(), vol.download, stream, 0, size, 0)

        def _sink(_stream, data, _opaque):
            digest.update(data)
            return len(data)
        call('reading volume %s back' % vol.name(), stream.recvAll, _sink, None)
        call('finishing the read of volume %s' % vol.name(), stream.finish)
    except Exception:
        abort(stream)
        raise
    return digest.hexdigest()


def file_digest(path, algorithm):
    """The ``algorithm`` hex digest of the file ``path``."""
    digest = hashlib.new(algorithm)
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b''):
            digest.update(chunk)
    return digest.hexdigest()


_ZERO_CHUNK = bytes(CHUNK)


def hash_zeros(digest, length):
    """``digest`` updated with ``length`` zero bytes (a hole, as the file reads)."""
    while length > 0:
        piece = min(length, CHUNK)
        digest.update(_ZERO_CHUNK if piece == CHUNK else _ZERO_CHUNK[:piece])
        length -= piece


def abort(stream):
    """Abort ``stream``, ignoring a stream that is already broken."""
    try:
        stream.abort()
    except Exception:  # pylint: disable=broad-except
        pass
