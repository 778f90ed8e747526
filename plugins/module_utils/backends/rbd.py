# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: rbd - a Ceph RADOS pool; volumes are RBD images."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile

from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import PoolBackend
from ansible_collections.kvmops.storage.plugins.module_utils.connection import VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS
from ansible_collections.kvmops.storage.plugins.module_utils.errors import OperationError, RefusedError

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
    capabilities = frozenset(('volume_create', 'volume_delete', 'volume_resize', 'volume_wipe', 'volume_clone'))
    thin_provisioned = True  # RBD images take the objects written to them
    volume_formats = ('raw',)
    volume_format_in_xml = False
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


def list_snapshots(definition, image, key):
    """Names of the snapshots of RBD image ``image`` (``RADOSPOOL/NAME``) in the cluster the pool ``definition``
    names (its monitors and auth user; ``key`` is that user's cephx key as bytes, None without auth).

    Asks the ``rbd`` command where the module runs (Debian/RPM package ceph-common), or else the python rbd
    binding (python3-rbd); the key goes through a file only this user can read, never on a command line.
    Raises OperationError when neither is there or the cluster does not answer."""
    mons = ','.join(_show(host, port) for host, port in monitors(definition))
    auth = xmlu.find_path(definition, 'source/auth')
    user = auth[0].get('username') if auth else None
    if shutil.which('rbd') is not None:
        return _snapshots_by_command(mons, user, key, image)
    try:
        import rados  # pylint: disable=import-outside-toplevel
        import rbd  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise OperationError('neither the rbd command (package ceph-common) nor the python rbd binding '
                             '(python3-rbd) is on the host running the module')
    return _snapshots_by_binding(rados, rbd, mons, user, key, image)


def _snapshots_by_command(mons, user, key, image):
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
        argv += ['snap', 'ls', '--format', 'json', image]
        try:
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                                  timeout=_RBD_TIMEOUT + 15, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise OperationError('rbd snap ls %s failed: %s' % (image, exc))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        raise OperationError('rbd snap ls %s failed: %s' % (image, lines[-1] if lines else 'exit %d' % proc.returncode))
    try:
        return [item['name'] for item in json.loads(proc.stdout or '[]')]
    except (ValueError, KeyError, TypeError):
        raise OperationError('rbd snap ls %s printed no JSON list' % image)


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
