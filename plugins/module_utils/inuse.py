# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who uses a piece of storage on the connected host: the one answer every destructive or
disruptive step asks before it runs (volume delete, wipe and shrink; pool delete and restart;
secret removal), and the ``used_by`` of the facts.

- Domains, defined or running (each with its running state), whose disks name a volume:
  by path, compared resolved when the module runs on the host (``os.path.realpath``, so a
  symlinked directory, a ``/dev/disk/by-*`` or ``/dev/mapper`` name is the file or device
  it points to; the device number of a block device and the inode of a file, so another
  node or hard link of the same thing matches too); by ``<source pool= volume=>``; by
  network name (an RBD ``<source protocol='rbd' name='pool/image'>``). The disks of a
  running domain's live definition (with its backing chain) and of its persistent one both
  count.
- Volumes of every active pool of the host whose backing chain reaches a volume.
- Pools (defined, active or not) and domains that name a secret.

Everything is read lazily, once per task: the domains on the first question about domains,
the volumes of all pools on the first question about backing chains.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import os
import stat

from ansible_collections.kvmops.storage.plugins.module_utils import pool_options
from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.connection import (
    VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE,
    VIR_DOMAIN_XML_INACTIVE,
    VIR_STORAGE_XML_INACTIVE,
    call,
    libvirt,
)
from ansible_collections.kvmops.storage.plugins.module_utils.live import stripped, volume_fields

# volume types whose path is a network name (pool/image), not a file or device
NETWORK_VOLUME_TYPES = ('network', 'netdir')
# pool auth type -> the usage of the secret it authenticates with
_POOL_AUTH_USAGE = {'ceph': 'ceph', 'chap': 'iscsi'}
# <secret type=...> of a domain -> the usage of that secret
_DOMAIN_SECRET_USAGE = {'ceph': 'ceph', 'iscsi': 'iscsi', 'passphrase': 'volume', 'vtpm': 'vtpm', 'tls': 'tls'}

#: one domain that uses something: its name and whether it runs (active in any way: running, paused...)
DomainUse = collections.namedtuple('DomainUse', 'name running')
#: one volume whose backing chain reaches another: pool, name, path, and the domains that use it
Overlay = collections.namedtuple('Overlay', 'pool name path domains')


def path_keys(path, is_local):
    """The ways ``path`` can be recognised: its normalized text, and when the module runs on the
    host its real path and the identity of what it names (device number of a block device,
    device and inode of anything else). A path that does not exist keeps its text forms."""
    if not path:
        return frozenset()
    keys = {('path', os.path.normpath(path))}
    if is_local and path.startswith('/'):
        keys.add(('path', os.path.realpath(path)))
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            pass
        else:
            if stat.S_ISBLK(info.st_mode):
                keys.add(('block', info.st_rdev))
            else:
                keys.add(('inode', info.st_dev, info.st_ino))
    return frozenset(keys)


def network_key(name):
    """The key of a network disk name: an RBD ``pool/image@snapshot`` uses ``pool/image``."""
    return ('network', name.split('@', 1)[0].strip('/'))


def volume_keys(volume, is_local):
    """The keys of a volume (a dict with ``type`` and ``path``, as live.volume_fields gives)."""
    if volume.get('type') in NETWORK_VOLUME_TYPES:
        return frozenset([network_key(volume['path'])]) if volume.get('path') else frozenset()
    return path_keys(volume.get('path'), is_local)


def describe_domains(domains):
    """``a (running), b`` for a refusal message."""
    return ', '.join('%s (running)' % d.name if d.running else d.name for d in domains)


def describe_overlays(overlays):
    """``ov.qcow2 (pool b, used by domain(s) vm1 (running)), top.qcow2 (pool c)`` for a message."""
    return ', '.join('%s (pool %s%s)' % (overlay.name, overlay.pool, ', used by domain(s) %s'
                                         % describe_domains(overlay.domains) if overlay.domains else '')
                     for overlay in overlays)


class _Domain:
    """The storage one domain names: path keys of its disks, <source pool volume>, network names, secrets."""

    def __init__(self, name, running):
        self.use = DomainUse(name, running)
        self.paths = []          # (normalized path, real path or None)
        self.keys = set()
        self.pool_volumes = set()
        self.secrets = []        # (uuid, usage type, usage id)
        self.written = set()     # path keys, network keys and (pool, volume) of the disks it writes now

    def add_definition(self, root, is_local):
        live = self.use.running and root.get('id') is not None  # the definition it runs with
        for disk in root.iterfind('devices/disk'):
            for source in disk.iter('source'):
                self._add_source(source, is_local)
            top = disk.find('source')
            if live and top is not None and disk.find('readonly') is None:
                self._add_written(top, is_local)
        for secret in root.iterfind('devices//secret'):
            uuid = stripped(secret.get('uuid'))
            self.secrets.append((uuid.lower() if uuid else None,
                                 _DOMAIN_SECRET_USAGE.get(secret.get('type')), secret.get('usage')))
        for encryption in root.iterfind('devices/tpm/backend/encryption'):
            if encryption.get('secret'):
                self.secrets.append((encryption.get('secret').strip().lower(), 'vtpm', None))

    def _add_source(self, source, is_local):
        if source.get('pool') and source.get('volume'):
            self.pool_volumes.add((source.get('pool'), source.get('volume')))
        if source.get('protocol') and source.get('name'):
            self.keys.add(network_key(source.get('name')))
        for attr in ('file', 'dev', 'dir'):
            path = source.get(attr)
            if path:
                keys = path_keys(path, is_local)
                self.keys.update(keys)
                real = os.path.realpath(path) if is_local and path.startswith('/') else None
                self.paths.append((os.path.normpath(path), real))

    def _add_written(self, source, is_local):
        if source.get('pool') and source.get('volume'):
            self.written.add(('pool-volume', source.get('pool'), source.get('volume')))
        if source.get('protocol') and source.get('name'):
            self.written.add(network_key(source.get('name')))
        for attr in ('file', 'dev'):
            if source.get(attr):
                self.written.update(path_keys(source.get(attr), is_local))

    def under(self, directories):
        """(normalized path, real path or None) of this domain's disks inside one of ``directories``."""
        found = []
        for path, real in self.paths:
            for directory in directories:
                prefix = directory.rstrip('/') + '/'
                if path.startswith(prefix) or (real is not None and real.startswith(prefix)):
                    found.append((path, real))
                    break
        return found


class InUse:
    """Who uses what on the host of ``conn``; ``is_local`` says whether paths can be resolved here."""

    def __init__(self, conn, is_local=True):
        self.conn = conn
        self.is_local = is_local
        self._domains = None
        self._by_key = None
        self._by_pool_volume = None
        self._volumes = None

    # ---- domains -------------------------------------------------------------------
    def domains(self):
        """Every domain of the host, read once (a list of _Domain)."""
        if self._domains is None:
            self._domains = []
            for dom in call('listing domains', self.conn.listAllDomains, 0):
                try:
                    found = _Domain(dom.name(), bool(dom.isActive()))
                    found.add_definition(xmlu.parse(dom.XMLDesc(0)), self.is_local)
                    if found.use.running:
                        # the definition it starts with next time
                        found.add_definition(xmlu.parse(dom.XMLDesc(VIR_DOMAIN_XML_INACTIVE)), self.is_local)
                except libvirt.libvirtError:
                    continue  # the domain went away meanwhile
                self._domains.append(found)
            self._by_key, self._by_pool_volume = {}, {}
            for found in self._domains:
                for key in found.keys:
                    self._by_key.setdefault(key, []).append(found)
                for pool_volume in found.pool_volumes:
                    self._by_pool_volume.setdefault(pool_volume, []).append(found)
        return self._domains

    def domains_of(self, pool_name, volume):
        """Sorted DomainUse of the domains whose disks are ``volume`` (a dict with name, type and path,
        as live.volume_fields gives) of pool ``pool_name``: by resolved path, network name, or pool/volume."""
        self.domains()
        if not self._by_key and not self._by_pool_volume:
            return []  # no domain names any storage: the volume's path is not resolved (a realpath and a stat)
        found = {}
        for key in volume_keys(volume, self.is_local):
            for dom in self._by_key.get(key, ()):
                found[dom.use.name] = dom.use
        for dom in self._by_pool_volume.get((pool_name, volume.get('name')), ()):
            found[dom.use.name] = dom.use
        return [found[name] for name in sorted(found)]

    def writers_of(self, pool_name, volume):
        """Sorted names of the running domains that write to ``volume`` now: a disk of their live definition,
        not read-only, whose source (not a backing store) is the volume."""
        keys = set(volume_keys(volume, self.is_local))
        keys.add(('pool-volume', pool_name, volume.get('name')))
        return sorted(dom.use.name for dom in self.domains() if dom.written & keys)

    # ---- backing chains ----------------------------------------------------------------
    def _all_volumes(self):
        """(pool, fields, keys of its path, keys of its backing store path) of every volume of every active
        pool that has a backing store, read once."""
        if self._volumes is None:
            self._volumes = []
            for pool in call('listing storage pools', self.conn.listAllStoragePools, VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
                try:
                    pool_name = pool.name()
                    volumes = pool.listAllVolumes(0)
                except libvirt.libvirtError:
                    continue  # stopped or gone meanwhile
                for vol in volumes:
                    try:
                        fields = volume_fields(xmlu.parse(vol.XMLDesc(0)))
                    except libvirt.libvirtError:
                        continue
                    if fields['backing_store']:
                        self._volumes.append((pool_name, fields, volume_keys(fields, self.is_local),
                                              path_keys(fields['backing_store']['path'], self.is_local)))
        return self._volumes

    def overlays_of(self, volume, skip=()):
        """Overlay of each volume, in any active pool, whose backing chain reaches ``volume``, nearest first,
        with the domains that use it; ``skip`` holds (pool, name) of volumes to leave out (deleted before)."""
        reach = [volume_keys(volume, self.is_local)]
        seen = set(skip)
        found = []
        while reach:
            keys = reach.pop(0)
            if not keys:
                continue
            for pool_name, fields, own_keys, backing_keys in self._all_volumes():
                if (pool_name, fields['name']) in seen or not keys & backing_keys:
                    continue
                seen.add((pool_name, fields['name']))
                found.append(Overlay(pool_name, fields['name'], fields['path'], self.domains_of(pool_name, fields)))
                reach.append(own_keys)
        return found

    def overlays_outside(self, pool_name, volumes):
        """Overlays in other pools whose backing chain reaches one of ``volumes`` (volume field dicts) of pool
        ``pool_name``: what deleting the whole pool leaves without its backing store, sorted by pool and name.
        A chain that passes through a volume of the pool itself is followed on (that volume goes too)."""
        found = {}
        for volume in volumes:
            for overlay in self.overlays_of(volume):
                if overlay.pool != pool_name:
                    found.setdefault((overlay.pool, overlay.name), overlay)
        return [found[key] for key in sorted(found)]

    # ---- pools ----------------------------------------------------------------------
    def pool_users(self, pool_name, volumes, directories=()):
        """[(DomainUse, [what it uses])] sorted by domain: the domains that use one of ``volumes`` (volume
        field dicts) of pool ``pool_name``, name a volume of it by <source pool=>, or have a disk inside one
        of ``directories`` (the pool's target directory, for pools of image files)."""
        self.domains()
        found = {}

        def add(use, what):
            found.setdefault(use.name, (use, set()))[1].add(what)

        for volume in volumes:
            for use in self.domains_of(pool_name, volume):
                add(use, volume.get('name'))
        # a disk inside the directory is named by its volume when the pool lists it
        by_path = {}
        for volume in volumes:
            if volume.get('path') and volume.get('type') not in NETWORK_VOLUME_TYPES:
                by_path[os.path.normpath(volume['path'])] = volume.get('name')
                if self.is_local:
                    by_path[os.path.realpath(volume['path'])] = volume.get('name')
        for dom in self._domains:
            for pool, vol in dom.pool_volumes:
                if pool == pool_name:
                    add(dom.use, vol)
            for path, real in dom.under(directories):
                add(dom.use, by_path.get(path) or by_path.get(real) or path)
        return [(found[name][0], sorted(found[name][1])) for name in sorted(found)]

    # ---- secrets --------------------------------------------------------------------
    def secret_users(self, uuid, usage, usage_id):
        """(sorted names of the defined pools whose auth names the secret, sorted DomainUse of the domains
        whose disks authenticate or decrypt with it); the secret is given by uuid and its usage type and id."""
        uuid = uuid.lower() if uuid else None
        pools = []
        for pool in call('listing storage pools', self.conn.listAllStoragePools, 0):
            try:
                name = pool.name()
                auth = pool_options.read(xmlu.parse(pool.XMLDesc(VIR_STORAGE_XML_INACTIVE)))
            except libvirt.libvirtError:
                continue
            if auth.get('auth_type') and _names_secret(auth.get('secret_uuid'), _POOL_AUTH_USAGE.get(auth['auth_type']),
                                                       auth.get('secret_usage'), uuid, usage, usage_id):
                pools.append(name)
        domains = [dom.use for dom in self.domains()
                   if any(_names_secret(s_uuid, s_usage, s_id, uuid, usage, usage_id) for s_uuid, s_usage, s_id in dom.secrets)]
        return sorted(pools), sorted(domains)


def _names_secret(ref_uuid, ref_usage, ref_usage_id, uuid, usage, usage_id):
    """Whether a reference (by uuid, or by usage id of a usage type when the reference tells it) names the secret."""
    if ref_uuid:
        return uuid is not None and ref_uuid.strip().lower() == uuid
    if ref_usage_id and usage_id is not None and ref_usage_id == usage_id:
        return ref_usage is None or usage is None or ref_usage == usage
    return False
