# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: rbd - a Ceph RADOS pool; volumes are RBD images."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile

from ansible_collections.kvmops.storage.plugins.module_utils import stream
from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import PoolBackend
from ansible_collections.kvmops.storage.plugins.module_utils.connection import VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS
from ansible_collections.kvmops.storage.plugins.module_utils.errors import OperationError, RefusedError, UnsupportedError

# The port a Ceph monitor listens on (msgr v1) when source_host gives none; libvirt's default too.
MON_PORT = 6789
# The snapshot libvirt clones an RBD image through (clone_from, vol-clone) is named "libvirt-" and a
# random number (seen: libvirt-17694). libvirt reuses a snapshot that has no difference to the image
# instead when there is one, whatever its name: such a snapshot is not libvirt's and is kept.
CLONE_SNAPSHOT_RE = re.compile(r'^libvirt-[0-9]+$')
# seconds the rbd command may take to reach the monitors and answer
_RBD_TIMEOUT = 30
# libvirt's message when librados cannot connect; it ends with an errno text that does not
# come from librados, so it says nothing about the cause
_CONNECT_FAILED = 'failed to connect to the RADOS monitor'


def monitors(definition):
    """``[(host, port)]`` of the monitors a pool definition names (port 6789 when none is given)."""
    found = []
    for host in xmlu.find_path(definition, 'source/host'):
        port = host.get('port')
        found.append((host.get('name'), int(port) if port and port.isdigit() else MON_PORT))
    return found


def _answers(host, port, timeout=3.0):
    try:
        sock = socket.create_connection((host, port), timeout)
    except (OSError, ValueError):
        return False
    sock.close()
    return True


def _show(host, port):
    return ('[%s]:%d' if ':' in host else '%s:%d') % (host, port)


class RbdBackend(PoolBackend):
    type_name = 'rbd'
    summary = 'a Ceph RADOS pool of RBD images'
    options = ('source_host', 'source_name', 'auth_type', 'auth_username', 'secret_usage', 'secret_uuid')
    required = ('source_host', 'source_name')
    auth_types = ('ceph',)
    auth_secret_usage = {'ceph': 'ceph'}
    capabilities = frozenset(('volume_create', 'volume_delete', 'volume_resize', 'volume_wipe', 'volume_clone',
                              'volume_upload'))
    # libvirt clones an RBD image only from an image of the same RADOS pool (a copy-on-write clone)
    libvirt_copies_across_types = False
    thin_provisioned = True  # RBD images take the objects written to them
    volume_formats = ('raw',)
    volume_format_in_xml = False
    volume_read_probes_storage = True  # libvirt connects to the cluster and opens the image
    # An RBD image has the size it was created or resized to, to the byte (the 4 MiB objects
    # only show in the allocation), so any other capacity is a real difference.
    volume_granularity = 1
    # A delete removes the snapshots libvirt's clones made (they stay on the source; without them gone it
    # could never be deleted) and no other: see volume_delete_plan.
    volume_delete_flags = 0

    def volume_delete_plan(self, definition, volume, read_secret, force):
        """Delete with the image's snapshots only when all of them are libvirt's clone snapshots; an image with
        other snapshots (backups made with ``rbd snap create``) is refused naming them, unless ``force``."""
        image = volume.get('path')
        if force:
            return VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS, None
        try:
            names = list_snapshots(definition, image, self._key(definition, read_secret))
        except OperationError as exc:
            # librbd refuses to remove an image that has snapshots: without the flag nothing else is lost
            return 0, ('the snapshots of RBD image %s cannot be listed (%s), so it is deleted without them: librbd '
                       'refuses if it has any; force=true deletes it with all its snapshots' % (image, exc.msg))
        other = [name for name in names if not CLONE_SNAPSHOT_RE.match(name)]
        if other:
            raise RefusedError('RBD image %s has snapshot(s) that libvirt did not make for a clone: %s; deleting it '
                               'would delete them too, so it is refused. Remove them first (rbd snap rm), or set '
                               'force=true to delete the image with all its snapshots' % (image, ', '.join(other)),
                               snapshots=other)
        return (VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS if names else 0), None

    def volume_channel(self, definition, name, read_secret):
        """libvirt's rbd driver streams no volume: the bytes go through the rbd command (RbdImage)."""
        if shutil.which('rbd') is None:
            raise UnsupportedError('the bytes of RBD images are written and read with the rbd command, which is not '
                                   'on the host running the module: install package ceph-common there. Nothing was '
                                   'changed')
        return RbdImage(definition, name, self._key(definition, read_secret))

    @staticmethod
    def _key(definition, read_secret):
        """The cephx key (bytes) of the pool's auth user, None for a pool without auth."""
        auth = xmlu.find_path(definition, 'source/auth')
        secret = xmlu.find_path(auth[0], 'secret') if auth else None
        if not secret:
            return None
        return read_secret('ceph', uuid=secret[0].get('uuid'), usage_id=secret[0].get('usage'))

    def start_failure_hint(self, definition, message, is_local):
        if _CONNECT_FAILED not in message or not is_local:
            return None
        mons = monitors(definition)
        up = [_show(host, port) for host, port in mons if _answers(host, port)]
        if not up:
            return ('no Ceph monitor accepts connections at %s: check source_host and that the monitors run'
                    % ', '.join(_show(host, port) for host, port in mons))
        auth = xmlu.find_path(definition, 'source/auth')
        if not auth:
            return ('the monitor(s) at %s accept connections but the cluster refused the client: the pool has no '
                    'auth and the cluster may require cephx (set auth_type, auth_username and a secret)'
                    % ', '.join(up))
        secret = xmlu.find_path(auth[0], 'secret')
        which = ''
        if secret:
            which = (' (secret_uuid %s)' % secret[0].get('uuid') if secret[0].get('uuid')
                     else ' (secret_usage %r)' % secret[0].get('usage'))
        return ('the monitor(s) at %s accept connections, so the cluster refused the client: check that '
                'auth_username %r names a Ceph client (client.%s) and that its libvirt secret%s holds that '
                "client's key" % (', '.join(up), auth[0].get('username'), auth[0].get('username'), which))

    def volume_delete_failure_hint(self, name, message):
        if 'unprotect snapshot' in message:
            return ('RBD image %s has a snapshot that other images were cloned from (clone_from makes such '
                    'clones): delete those clones first' % name)
        if 'failed to remove volume' in message:
            return ('librbd would not remove RBD image %s: it still has snapshots or clones, or a client '
                    'holds it open (libvirt appends an unrelated errno text)' % name)
        return None


def _client(definition):
    """(monitors as the rbd command takes them, auth user or None) of the pool ``definition``."""
    auth = xmlu.find_path(definition, 'source/auth')
    return (','.join(_show(host, port) for host, port in monitors(definition)),
            auth[0].get('username') if auth else None)


def list_snapshots(definition, image, key):
    """Names of the snapshots of RBD image ``image`` (``RADOSPOOL/NAME``) in the cluster the pool ``definition``
    names (its monitors and auth user; ``key`` is that user's cephx key as bytes, None without auth).

    Asks the ``rbd`` command where the module runs (Debian/RPM package ceph-common), or else the python rbd
    binding (python3-rbd); the key goes through a file only this user can read, never on a command line.
    Raises OperationError when neither is there or the cluster does not answer."""
    mons, user = _client(definition)
    if shutil.which('rbd') is not None:
        return _snapshots_by_command(mons, user, key, image)
    try:
        import rados  # pylint: disable=import-outside-toplevel
        import rbd  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise OperationError('neither the rbd command (package ceph-common) nor the python rbd binding '
                             '(python3-rbd) is on the host running the module')
    return _snapshots_by_binding(rados, rbd, mons, user, key, image)


@contextlib.contextmanager
def _rbd_argv(mons, user, key):
    """The start of an rbd command line that reaches the cluster at ``mons`` as ``user`` with ``key``: the key
    in a file only this user can read, removed when the block ends."""
    argv = ['rbd', '--conf', '/dev/null', '-m', mons, '--client-mount-timeout', str(_RBD_TIMEOUT)]
    workdir = tempfile.mkdtemp(prefix='kvmops-rbd-')
    try:
        if key is not None:
            keyfile = os.path.join(workdir, 'key')
            fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'w') as handle:
                handle.write(base64.b64encode(key).decode('ascii'))
            argv += ['--id', user or 'admin', '--keyfile', keyfile]
        else:
            argv += ['--auth-client-required', 'none']
        yield argv
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _last_line(text, returncode):
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else 'exit %d' % returncode


def _snapshots_by_command(mons, user, key, image):
    with _rbd_argv(mons, user, key) as argv:
        try:
            proc = subprocess.run(argv + ['snap', 'ls', '--format', 'json', image], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, universal_newlines=True, timeout=_RBD_TIMEOUT + 15,
                                  check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise OperationError('rbd snap ls %s failed: %s' % (image, exc))
    if proc.returncode != 0:
        raise OperationError('rbd snap ls %s failed: %s' % (image, _last_line(proc.stderr, proc.returncode)))
    try:
        return [item['name'] for item in json.loads(proc.stdout or '[]')]
    except (ValueError, KeyError, TypeError):
        raise OperationError('rbd snap ls %s printed no JSON list' % image)


# rbd's image diff format (what `rbd export-diff` writes and `rbd import-diff` applies): a header, then
# records; 'w' is data at an offset (offset and length, little-endian 64-bit, then the bytes), 'e' the end
_DIFF_HEADER = b'rbd diff v1\n'
_DIFF_WRITE = b'w'
_DIFF_END = b'e'
# the most data bytes one record holds
_DIFF_RECORD = 4 * 1024 * 1024


class _Pipe:
    """What a command writes, to pull; ``enough`` set: the rest is not wanted (the command is stopped)."""
    skip = None

    def __init__(self, read):
        self.read = read
        self.enough = False


class RbdImage:
    """The bytes of one RBD image, through the rbd command where the module runs (libvirt's rbd driver has no
    volume upload or download): written as an image diff of the blocks that are not all zeros (`rbd
    import-diff`; a new image reads zeros where nothing was written), read with `rbd export`. The cephx key
    goes through a file only this user can read."""

    def __init__(self, definition, name, key):
        self._mons, self._user = _client(definition)
        self._key = key
        self.image = '%s/%s' % (PoolBackend.xml_text(definition, 'source/name'), name)

    def send(self, read, length, what, sparse=False, size=0, skip=None):  # pylint: disable=unused-argument
        """Write what ``read(nbytes)`` returns into the image from offset 0 (``length``: the most it takes, 0: no
        bound); ``skip()`` as for stream.send. The image is new: zero blocks are not written. Returns the
        bytes not written."""
        with _rbd_argv(self._mons, self._user, self._key) as argv, tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(argv + ['import-diff', '--no-progress', '-', self.image], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=errors)
            holes = 0
            failure = None
            try:
                holes = self._write_diff(proc.stdin, read, length, what, skip)
            except BrokenPipeError:
                pass  # rbd stopped reading: its message says why
            except BaseException as exc:  # pylint: disable=broad-except
                failure = exc  # the source failed: rbd is stopped below, then this is raised
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            if failure is None:
                returncode = proc.wait()
            else:
                # without the end record rbd import-diff fails by itself and closes the image (a killed
                # client would hold a watch on it for the OSD's timeout, and the image could not be deleted)
                try:
                    proc.wait(timeout=_RBD_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                raise failure
            self._check(returncode, errors, 'rbd import-diff into %s' % self.image)
        return holes

    def _write_diff(self, out, read, length, what, skip):
        out.write(_DIFF_HEADER)
        position = holes = 0
        run = []  # blocks of data not written yet, from ``start``
        start = 0

        def flush():
            if run:
                data = b''.join(run)
                out.write(_DIFF_WRITE + struct.pack('<QQ', start, len(data)))
                out.write(data)
                del run[:]
        while True:
            skipped = skip() if skip is not None else 0
            if skipped:
                flush()
                position += skipped
                holes += skipped
                continue
            block = stream.read_full(read, stream.HOLE_BLOCK)
            if not block:
                break
            if length and position + len(block) > length:
                raise OperationError('%s holds more than the %d bytes RBD image %s takes' % (what, length, self.image))
            if stream.is_zero_block(block):
                flush()
                holes += len(block)
            else:
                if not run:
                    start = position
                run.append(block)
                if len(run) * stream.HOLE_BLOCK >= _DIFF_RECORD:
                    flush()
            position += len(block)
        flush()
        out.write(_DIFF_END)
        return holes

    def digest(self, size, algorithm):
        """The ``algorithm`` hex digest of the first ``size`` bytes of the image."""
        digest = hashlib.new(algorithm)
        self._export(digest.update, size)
        return digest.hexdigest()

    def download(self, sink):
        """The whole image into ``sink`` (its ``data``; the sink finds the zero blocks)."""
        self._export(sink.data)

    @contextlib.contextmanager
    def reader(self):
        """The image's bytes to pull: a _Pipe (``skip`` None: zeros are read as zeros)."""
        with _rbd_argv(self._mons, self._user, self._key) as argv, tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(argv + ['export', '--no-progress', self.image, '-'], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=errors)
            pipe = _Pipe(proc.stdout.read)
            try:
                yield pipe
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            finally:
                proc.stdout.close()
            if pipe.enough:
                proc.kill()  # the rest is not wanted (an export opens the image read-only)
                proc.wait()
                return
            self._check(proc.wait(), errors, 'rbd export of %s' % self.image)

    def _export(self, consume, size=None):
        """The image's bytes (the first ``size``: then rbd export is stopped once they are read) to ``consume``."""
        with self.reader() as pipe:
            left = size
            while left is None or left > 0:
                chunk = pipe.read(stream.CHUNK if left is None else min(stream.CHUNK, left))
                if not chunk:
                    break
                consume(chunk)
                if left is not None:
                    left -= len(chunk)
            pipe.enough = left == 0

    @staticmethod
    def _check(returncode, errors, what):
        if returncode != 0:
            errors.seek(0)
            raise OperationError('%s failed: %s' % (what, _last_line(errors.read().decode('utf-8', 'replace'),
                                                                     returncode)))


def _snapshots_by_binding(rados, rbd, mons, user, key, image):
    conf = {'mon_host': mons, 'client_mount_timeout': str(_RBD_TIMEOUT)}
    if key is not None:
        conf['key'] = base64.b64encode(key).decode('ascii')
    else:
        conf['auth_client_required'] = 'none'
    pool, name = image.split('/', 1)
    try:
        cluster = rados.Rados(rados_id=user or 'admin', conffile='/dev/null', conf=conf)
        cluster.connect(timeout=_RBD_TIMEOUT)
        try:
            with cluster.open_ioctx(pool) as ioctx:
                with rbd.Image(ioctx, name, read_only=True) as handle:
                    return [snap['name'] for snap in handle.list_snaps()]
        finally:
            cluster.shutdown()
    except Exception as exc:  # pylint: disable=broad-except
        raise OperationError('listing the snapshots of RBD image %s failed: %s: %s' % (image, type(exc).__name__, exc))
