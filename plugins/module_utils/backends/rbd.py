# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""type: rbd - a Ceph RADOS pool; volumes are RBD images."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import PoolBackend

# The port a Ceph monitor listens on (msgr v1) when source_host gives none; libvirt's default too.
MON_PORT = 6789
# virStorageVolDeleteFlags: also remove the image's snapshots
_DELETE_WITH_SNAPSHOTS = 2
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
    volume_formats = ('raw',)
    volume_format_in_xml = False
    # An RBD image has the size it was created or resized to, to the byte (the 4 MiB objects
    # only show in the allocation), so any other capacity is a real difference.
    volume_granularity = 1
    # libvirt clones an RBD image through a protected snapshot of the source, which stays on it;
    # without this flag the source could never be deleted afterwards.
    volume_delete_flags = _DELETE_WITH_SNAPSHOTS

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
