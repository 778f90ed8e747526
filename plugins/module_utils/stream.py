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

from ansible_collections.kvmops.storage.plugins.module_utils.connection import call

CHUNK = 1024 * 1024


def send(conn, vol, read, length, what):
    """Write into ``vol`` from offset 0 what ``read(nbytes)`` returns until it returns ``b''``;
    ``length`` bounds the upload (0: no bound). ``what`` names the source in errors. Returns the
    number of bytes sent. The stream is aborted on any failure, the reader's included."""
    name = vol.name()
    sent = [0]
    stream = call('opening a stream', conn.newStream, 0)
    try:
        call('starting the upload into volume %s' % name, vol.upload, stream, 0, length, 0)

        def _source(_stream, nbytes, _opaque):
            data = read(min(nbytes, CHUNK))
            sent[0] += len(data)
            return data
        call('uploading %s into volume %s' % (what, name), stream.sendAll, _source, None)
        call('finishing the upload into volume %s' % name, stream.finish)
    except Exception:
        abort(stream)
        raise
    return sent[0]


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


def abort(stream):
    """Abort ``stream``, ignoring a stream that is already broken."""
    try:
        stream.abort()
    except Exception:  # pylint: disable=broad-except
        pass
