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

import contextlib
import hashlib

from ansible_collections.kvmops.storage.plugins.module_utils.connection import (
    VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM, VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM, VIR_STREAM_RECV_STOP_AT_HOLE, call)

CHUNK = 1024 * 1024


# the unit in which runs of zero bytes are found and not sent (a sparse upload)
HOLE_BLOCK = 64 * 1024
# the most data bytes one data section of a sparse upload holds
_DATA_SECTION = CHUNK
_ZEROS = bytes(HOLE_BLOCK)


def read_full(read, size):
    """The next ``size`` bytes that ``read(nbytes)`` returns (fewer only at its end)."""
    parts, got = [], 0
    while got < size:
        part = read(size - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b''.join(parts)


def is_zero_block(block):
    """Whether ``block`` is a whole HOLE_BLOCK of zero bytes."""
    return len(block) == HOLE_BLOCK and block == _ZEROS


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
        if self._eof:
            return b''
        block = read_full(self._read, HOLE_BLOCK)
        self._eof = len(block) < HOLE_BLOCK
        return block

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
            if is_zero_block(block):
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


def download(conn, vol, sink):
    """The whole of ``vol`` into ``sink`` (``data(bytes)``, ``hole(length)``), holes skipped by libvirt's sparse
    stream."""
    name = vol.name()
    st = call('opening a stream', conn.newStream, 0)
    try:
        call('starting the download of volume %s' % name, vol.download, st, 0, 0,
             VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)

        def _data(_stream, data, _opaque):
            sink.data(data)
            return len(data)

        def _hole(_stream, length, _opaque):
            sink.hole(length)
            return 0
        call('downloading volume %s' % name, st.sparseRecvAll, _data, _hole, None)
        call('finishing the download of volume %s' % name, st.finish)
    except Exception:
        abort(st)
        raise


class LibvirtChannel:
    """The bytes of a volume through libvirt's streams (virStorageVolUpload/Download), over the
    connection: the channel of every type whose libvirt driver streams volumes. ``vol`` is the volume,
    or a function that looks it up when the bytes move (a volume a step of the task makes)."""

    def __init__(self, conn, vol):
        self._conn = conn
        self._vol = vol

    def _volume(self):
        return self._vol() if callable(self._vol) else self._vol

    def send(self, read, length, what, sparse=False, size=0, skip=None):
        """See send(); the volume is new (a new file with ``sparse``)."""
        return send(self._conn, self._volume(), read, length, what, sparse, size, skip)

    def digest(self, size, algorithm):
        return volume_digest(self._conn, self._volume(), size, algorithm)

    def download(self, sink):
        download(self._conn, self._volume(), sink)

    @contextlib.contextmanager
    def reader(self):
        """The volume's bytes to pull (a _Reader: ``read(nbytes)``, ``skip()``), through a sparse download."""
        vol = self._volume()
        st = call('opening a stream', self._conn.newStream, 0)
        try:
            call('starting the download of volume %s' % vol.name(), vol.download, st, 0, 0,
                 VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
            yield _Reader(st, vol.name())
            call('finishing the download of volume %s' % vol.name(), st.finish)
        except BaseException:
            abort(st)
            raise


class _Reader:
    """A sparse download pulled: ``read(nbytes)`` gives data (zeros for the start of a hole that ends a
    block), ``skip()`` the rest of a hole not read yet, as a number of bytes."""

    def __init__(self, st, name):
        self._st = st
        self._name = name
        self._hole = 0

    def skip(self):
        hole, self._hole = self._hole, 0
        return hole

    def read(self, nbytes):
        if not self._hole:
            got = call('downloading volume %s' % self._name, self._st.recvFlags, nbytes, VIR_STREAM_RECV_STOP_AT_HOLE)
            if got != -3:
                return got
            self._hole = call('downloading volume %s' % self._name, self._st.recvHole, 0)
        piece = min(nbytes, self._hole)
        self._hole -= piece
        return _ZERO_CHUNK[:piece] if piece <= CHUNK else bytes(piece)


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
