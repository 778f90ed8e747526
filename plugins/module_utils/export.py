# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A volume's content out to a file on the host that runs the module (storage_volume ``export``).

libvirt streams the volume (virStorageVolDownload, sparse: holes are not sent) to the module;
the bytes are written into a temporary file in the directory of ``dest``, as they come or
compressed, or converted with ``qemu-img`` first; the file is renamed over ``dest`` only when
whole, so a failed export leaves no partial file.  A sidecar file ``dest.ALGORITHM`` holds the
checksum (the line ``sha256sum -c`` reads) and, in comment lines, what the export was made from,
which tells a later run whether the export is still current.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bz2
import errno
import hashlib
import lzma
import os
import tempfile
import zlib

from ansible_collections.kvmops.storage.plugins.module_utils import qemu_img
from ansible_collections.kvmops.storage.plugins.module_utils import stream
from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.errors import OperationError, ValidationError
from ansible_collections.kvmops.storage.plugins.module_utils.source import (
    CHECKSUM_ALGORITHMS,
    ZSTD_MISSING,
    zstandard,
)

#: formats an export can be written in (other than as the volume holds its bytes)
EXPORT_FORMATS = ('raw', 'qcow2')
COMPRESSIONS = ('gzip', 'bzip2', 'xz', 'zstd')
DEFAULT_ALGORITHM = 'sha256'
#: image formats qemu-img reads; the bytes of any other volume (an iso, a partition, an LV) are raw
IMAGE_FORMATS = ('raw', 'qcow2', 'qcow', 'qed', 'vmdk', 'vpc', 'vdi', 'vhdx')
_SIDECAR_TITLE = '# kvmops.storage export; the comment lines tell whether the export is current'
_ZEROS = bytes(stream.CHUNK)
_ZERO_BLOCK = bytes(stream.HOLE_BLOCK)


def export_options():
    """The suboptions of ``export`` (no defaults, like every option of a volume; ExportRequest applies them)."""
    return dict(
        dest=dict(type='path', required=True),
        format=dict(type='str', choices=list(EXPORT_FORMATS)),
        compress=dict(type='str', choices=list(COMPRESSIONS)),
        checksum=dict(type='str', choices=list(CHECKSUM_ALGORITHMS)),
        force=dict(type='bool'),
        force_in_use=dict(type='bool'),
    )


def bytes_format(volume_format):
    """The format of the bytes a download of a volume of ``volume_format`` gives."""
    return volume_format if volume_format in IMAGE_FORMATS else 'raw'


class ExportRequest:
    """``export`` of one volume, validated where the module runs (its directory, its tools)."""

    def __init__(self, values, option):
        self.option = option
        dest = values['dest']
        if not os.path.isabs(dest):
            raise ValidationError(option('dest'), '%s %r: give an absolute path on the host running the module'
                                  % (option('dest'), dest))
        self.dest = os.path.normpath(dest)
        directory = os.path.dirname(self.dest)
        if not os.path.isdir(directory):
            raise ValidationError(option('dest'), '%s %r: directory %s does not exist on the host running the module'
                                  % (option('dest'), dest, directory))
        if os.path.isdir(self.dest):
            raise ValidationError(option('dest'), '%s %r is a directory; give the path of the file to write'
                                  % (option('dest'), dest))
        if os.path.lexists(self.dest) and (os.path.islink(self.dest) or not os.path.isfile(self.dest)):
            raise ValidationError(option('dest'), '%s %r exists and is not a regular file (a link, a device...); an '
                                  'export replaces only a file' % (option('dest'), dest))
        self.format = values.get('format')
        self.compress = values.get('compress')
        if self.compress == 'zstd' and zstandard is None:
            raise ValidationError(option('compress'), '%s zstd: %s' % (option('compress'), ZSTD_MISSING.replace(
                'or give an image compressed with xz, gzip or bzip2', 'or compress with xz, gzip or bzip2')))
        self.algorithm = values.get('checksum') or DEFAULT_ALGORITHM
        self.sidecar = '%s.%s' % (self.dest, self.algorithm)
        self.force = bool(values.get('force'))
        self.force_in_use = bool(values.get('force_in_use'))

    def refuse_volume_file(self, volume_path, pool_directory):
        """Refuse a dest that is the volume's own file, or a file in the directory of the pool (a volume of it)."""
        real = os.path.realpath(self.dest)
        if volume_path and os.path.realpath(volume_path) == real:
            raise ValidationError(self.option('dest'), '%s %r is the volume itself' % (self.option('dest'), self.dest))
        if pool_directory and os.path.dirname(real) == os.path.realpath(pool_directory):
            raise ValidationError(self.option('dest'), '%s %r is in the directory of the pool, where a file is a '
                                  'volume of the pool; write the export elsewhere' % (self.option('dest'), self.dest))

    def output_format(self, volume_format):
        return self.format or bytes_format(volume_format)

    def needs_conversion(self, volume_format):
        return self.output_format(volume_format) != bytes_format(volume_format)

    def check_tools(self, volume_format):
        """Refuse a conversion that this host cannot make (before anything is written)."""
        if self.needs_conversion(volume_format):
            qemu_img.require(self.option('format'), 'converts the volume to %s' % self.format,
                             "leave %s out to export the volume in its own format" % self.option('format'))

    def made(self, volume, key, volume_format, source=None):
        """The fields a sidecar of this export of ``volume`` (POOL/NAME) holds, but its file and checksum;
        ``source``: the mark of the volume's content (a callable reading it, or None for "read while exporting")."""
        return {'volume': volume, 'key': key, 'format': self.output_format(volume_format),
                'compress': self.compress or 'none', 'source': source}

    def record(self, volume_format):
        """The export as the result reports it before it is written (checksum and size unknown)."""
        return {'dest': self.dest, 'sidecar': self.sidecar, 'format': self.output_format(volume_format),
                'compress': self.compress, 'checksum': None, 'size': None, 'written': True, 'reason': None}


# ---- what an export was made from ---------------------------------------------------------------

def fingerprint(root):
    """What marks the content of the volume whose live XML is ``root``: its sizes and the mtime of its
    file, as libvirt reports them. None for a volume that is not a file (libvirt reports the timestamps
    of a block device's node, which a write through it does not change) or has no mtime: then the
    content's digest is the mark."""
    if root.get('type') != 'file':
        return None
    mtime = xmlu.find_path(root, 'target/timestamps/mtime')
    if not mtime or not (mtime[0].text or '').strip():
        return None
    parts = []
    for tag in ('capacity', 'physical'):
        found = xmlu.find_path(root, tag)
        if found and found[0].text:
            parts.append('%s=%s' % (tag, found[0].text.strip()))
    parts.append('mtime=%s' % mtime[0].text.strip())
    return ' '.join(parts)


def content_mark(channel, root, algorithm):
    """fingerprint(root), or else ``digest=ALGORITHM:HEX`` of the volume's bytes (read through ``channel``)."""
    mark = fingerprint(root)
    if mark is not None:
        return mark
    capacity = xmlu.find_path(root, 'capacity')
    size = int(capacity[0].text.strip()) if capacity and capacity[0].text else 0
    return 'digest=%s:%s' % (algorithm, channel.digest(size, algorithm))


def read_sidecar(path):
    """The fields of a sidecar file (a dict; ``checksum`` and ``file`` from its checksum line), or None."""
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except (IOError, OSError, UnicodeDecodeError):
        return None
    fields = {}
    for line in lines:
        if line.startswith('# ') and ': ' in line:
            key, value = line[2:].split(': ', 1)
            fields[key] = value
        elif line and not line.startswith('#'):
            parts = line.split(None, 1)
            if len(parts) == 2:
                fields['checksum'], fields['name'] = parts[0], parts[1].lstrip('*')
    return fields if 'checksum' in fields else None


def sidecar_text(request, made):
    """The sidecar of an export: comment lines (what it was made from), then HEX  NAME."""
    lines = [_SIDECAR_TITLE]
    for key in ('volume', 'key', 'source', 'format', 'compress', 'file'):
        lines.append('# %s: %s' % (key, made[key]))
    lines.append('%s  %s' % (made['checksum'], os.path.basename(request.dest)))
    return '\n'.join(lines) + '\n'


def _file_mark(path):
    st = os.stat(path)
    return st.st_size, 'size=%d mtime_ns=%d' % (st.st_size, st.st_mtime_ns)


def stale_reason(request, made):
    """Why the export at request.dest is not current, or None when it is. ``made`` holds the fields the
    sidecar would hold now (volume, key, source, format, compress): ``source`` may be a callable that
    reads the volume (its digest), called only when everything else matches."""
    if request.force:
        return '%s is set' % request.option('force')
    if not os.path.lexists(request.dest):
        return 'there is no export at %s yet' % request.dest
    if not os.path.isfile(request.dest) or os.path.islink(request.dest):
        return '%s is not a regular file' % request.dest
    sidecar = read_sidecar(request.sidecar)
    if sidecar is None:
        return 'no sidecar file %s tells what %s holds' % (request.sidecar, request.dest)
    for key in ('volume', 'key', 'format', 'compress'):
        if sidecar.get(key) != made[key]:
            return 'the export holds %s %s, not %s' % (key, sidecar.get(key), made[key])
    if sidecar.get('file') != _file_mark(request.dest)[1] or sidecar.get('name') != os.path.basename(request.dest):
        return '%s changed after the export was written' % request.dest
    source = made['source']() if callable(made['source']) else made['source']
    made['source'] = source
    if sidecar.get('source') != source:
        return 'the volume changed since the export (then %s, now %s)' % (sidecar.get('source'), source)
    made['checksum'] = sidecar['checksum']
    return None


# ---- writing ---------------------------------------------------------------------------------

class _Compressor:
    """One compressed stream (gzip, bzip2, xz or zstd) written by ``compress`` and ``flush``."""

    def __init__(self, compression):
        if compression == 'gzip':
            self._obj = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        elif compression == 'bzip2':
            self._obj = bz2.BZ2Compressor(9)
        elif compression == 'xz':
            self._obj = lzma.LZMACompressor(format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64)
        else:
            self._obj = zstandard.ZstdCompressor(level=3).compressobj()

    def compress(self, data):
        return self._obj.compress(data)

    def flush(self):
        return self._obj.flush()


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Sink:
    """Where the bytes of a volume go: a file descriptor, written as given (runs of zero blocks left as
    holes) or compressed; ``fd`` None: nowhere (hashed only). It hashes what it writes into the file
    with ``algorithm`` (the export's checksum) and, with ``source_algorithm``, what it is given (the
    volume's bytes)."""

    def __init__(self, fd, algorithm=None, compression=None, source_algorithm=None):
        self.fd = fd
        self.digest = hashlib.new(algorithm) if algorithm else None
        self.source = hashlib.new(source_algorithm) if source_algorithm else None
        self._compressor = _Compressor(compression) if compression else None
        self.position = 0  # bytes of the plain file, holes included
        self._pending = b''  # the start of a block not written yet (a plain file)

    def _out(self, data):
        if data:
            _write_all(self.fd, data)
            if self.digest is not None:
                self.digest.update(data)

    def data(self, chunk):
        if self.source is not None:
            self.source.update(chunk)
        if self._compressor is not None:
            self._out(self._compressor.compress(chunk))
            return
        if self.digest is not None:
            self.digest.update(chunk)
        self.position += len(chunk)
        if self.fd is None:
            return
        # whole blocks at block-aligned offsets of the file: libvirt's messages are not block-sized
        block = stream.HOLE_BLOCK
        data = self._pending + chunk if self._pending else chunk
        whole = len(data) - len(data) % block
        start = 0  # the data not written yet begins here
        for offset in range(0, whole, block):
            if data[offset:offset + block] == _ZERO_BLOCK:
                if offset > start:
                    _write_all(self.fd, data[start:offset])
                os.lseek(self.fd, block, os.SEEK_CUR)
                start = offset + block
        if whole > start:
            _write_all(self.fd, data[start:whole])
        self._pending = data[whole:]

    def _flush_pending(self):
        if self._pending:
            _write_all(self.fd, self._pending)
            self._pending = b''

    def hole(self, length):
        if self.source is not None:
            stream.hash_zeros(self.source, length)
        if self._compressor is not None:
            left = length
            while left > 0:
                piece = min(left, len(_ZEROS))
                self._out(self._compressor.compress(_ZEROS if piece == len(_ZEROS) else _ZEROS[:piece]))
                left -= piece
        elif self.digest is not None:
            stream.hash_zeros(self.digest, length)
        if self._compressor is None:
            self.position += length
            if self.fd is not None:
                self._flush_pending()
                os.lseek(self.fd, length, os.SEEK_CUR)

    def close(self):
        """Flush and sync the file (a plain file that ends in a hole gets its full length)."""
        if self._compressor is not None:
            self._out(self._compressor.flush())
        elif self.fd is not None:
            self._flush_pending()
            os.ftruncate(self.fd, self.position)
        if self.fd is not None:
            os.fsync(self.fd)


def _copy_file(path, sink):
    """The file ``path`` into ``sink``, its holes (SEEK_HOLE) as holes."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        position = 0
        while position < size:
            try:
                data = os.lseek(fd, position, os.SEEK_DATA)
                end = os.lseek(fd, data, os.SEEK_HOLE) if data < size else size
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # no SEEK_DATA here: the rest is data
                    data, end = position, size
                else:
                    data = end = size  # no data after position
            if data > position:
                sink.hole(data - position)
            if data >= size:
                break
            os.lseek(fd, data, os.SEEK_SET)
            left = end - data
            while left > 0:
                chunk = os.read(fd, min(left, stream.CHUNK))
                if not chunk:
                    raise OperationError('%s ended early while it was read' % path)
                sink.data(chunk)
                left -= len(chunk)
            position = end
    finally:
        os.close(fd)


def _replace(path, target):
    os.rename(path, target)
    directory = os.open(os.path.dirname(target), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write(channel, request, volume_format, made, check=None):
    """Export the volume whose bytes ``channel`` reads (in ``volume_format``) as ``request`` says; ``made``
    holds the sidecar's fields (``source`` None: the digest of the bytes read becomes the mark); ``check()``,
    called when the file is whole and before it replaces dest, may raise to throw it away. Returns (checksum hex, size
    of the file). Nothing is left at dest but a whole export, nothing beside it but the sidecar."""
    output = request.output_format(volume_format)
    convert = request.needs_conversion(volume_format)
    source_algorithm = request.algorithm if made['source'] is None else None
    temporaries = []

    def _new(what):
        fd, path = tempfile.mkstemp(dir=os.path.dirname(request.dest),
                                    prefix='.%s.' % os.path.basename(request.dest), suffix='.%s' % what)
        temporaries.append(path)
        return fd, path

    def _fill(fd, sink, fill):
        try:
            fill(sink)
            sink.close()
        finally:
            os.close(fd)
        return sink

    try:
        fd, final = _new('part')
        if convert:
            sink = _fill(fd, Sink(fd, source_algorithm=source_algorithm), channel.download)
        else:
            sink = _fill(fd, Sink(fd, request.algorithm, request.compress, source_algorithm),
                         channel.download)
        if source_algorithm:
            made['source'] = 'digest=%s:%s' % (source_algorithm, sink.source.hexdigest())
        if convert:
            downloaded = final
            fd, final = _new(output)
            os.close(fd)
            qemu_img.convert(bytes_format(volume_format), output, downloaded, final)
            os.unlink(downloaded)
            temporaries.remove(downloaded)
            if request.compress:
                converted = final
                fd, final = _new('part')
                sink = _fill(fd, Sink(fd, request.algorithm, request.compress), lambda s: _copy_file(converted, s))
                os.unlink(converted)
                temporaries.remove(converted)
            else:
                sink = Sink(None, request.algorithm)
                _copy_file(final, sink)
                _sync(final)
        os.chmod(final, 0o600)
        checksum = sink.digest.hexdigest()
        if check is not None:
            check()
        _replace(final, request.dest)
        temporaries.remove(final)
        size, made['file'] = _file_mark(request.dest)
        made['checksum'] = checksum
        fd, side = _new('sidecar')
        try:
            _write_all(fd, sidecar_text(request, made).encode('utf-8'))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(side, 0o644)
        _replace(side, request.sidecar)
        temporaries.remove(side)
        return checksum, size
    except (IOError, OSError) as exc:
        raise OperationError('writing the export %s failed: %s' % (request.dest, exc))
    finally:
        for path in temporaries:
            try:
                os.unlink(path)
            except OSError:
                pass


def _sync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
