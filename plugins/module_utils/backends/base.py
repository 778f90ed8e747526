# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PoolBackend: what one libvirt pool type takes, builds and can do.

A backend knows the pool XML of its type and its capabilities; it knows
nothing of Ansible.  It is given the typed options as a plain dict in which
``None`` means "not given" (leave the live definition as it is).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import subprocess

from ansible_collections.kvmops.storage.plugins.module_utils import canon
from ansible_collections.kvmops.storage.plugins.module_utils import pool_options
from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.connection import (
    VIR_STORAGE_POOL_BUILD_NEW,
    VIR_STORAGE_POOL_BUILD_NO_OVERWRITE,
    VIR_STORAGE_POOL_BUILD_OVERWRITE,
)
from ansible_collections.kvmops.storage.plugins.module_utils.errors import ValidationError
from ansible_collections.kvmops.storage.plugins.module_utils.pool_options import ADAPTER_KEYS, TYPED_OPTIONS, parse_host

AUTH_OPTIONS = tuple(option.name for option in pool_options.POOL_OPTIONS if option.path.startswith('source/auth'))
ADAPTER_TYPES = ('scsi_host', 'fc_host')

# Probe answers: is the storage behind a definition there?
BUILT = 'built'
MISSING = 'missing'
FOREIGN = 'foreign'

# virStoragePoolBuildFlags
BUILD_NEW = VIR_STORAGE_POOL_BUILD_NEW
BUILD_NO_OVERWRITE = VIR_STORAGE_POOL_BUILD_NO_OVERWRITE
BUILD_OVERWRITE = VIR_STORAGE_POOL_BUILD_OVERWRITE

# volume_upload: the bytes of the type's volumes can be written and read, both ways: through libvirt's
# streams (its drivers that upload also download), or through the backend's volume_channel
CAPABILITIES = ('build', 'delete', 'volume_create', 'volume_delete', 'volume_resize',
                'volume_wipe', 'volume_upload', 'volume_clone', 'volume_backing')

# Volume formats of pools that hold image files (libvirt creates the non-raw ones with qemu-img).
FILE_VOLUME_FORMATS = ('raw', 'qcow2', 'qed', 'vmdk', 'vpc', 'vdi')
# Partition types of disk pool volumes (libvirt's virStorageVolFormatDisk).
DISK_VOLUME_FORMATS = ('none', 'linux', 'fat16', 'fat32', 'linux-swap', 'linux-lvm', 'linux-raid', 'extended')
# Bytes an image format may round a requested capacity up by.
FORMAT_GRANULARITY = {'qcow2': 512, 'qed': 512, 'vmdk': 64 * 1024, 'vdi': 1024 * 1024, 'vpc': 16 * 1024 * 1024}
MIB = 1024 * 1024

_NAME_RE = re.compile(r'^[^/\s][^/]*$')


class ProbeResult:
    """The answer of a probe: ``state`` is BUILT, MISSING or FOREIGN; ``what`` says why."""

    def __init__(self, state, what=''):
        self.state = state
        self.what = what

    def __repr__(self):
        return 'ProbeResult(%r, %r)' % (self.state, self.what)


def run_probe(argv):
    """Run a read-only probe command; (rc, stdout). rc is None when the tool is absent."""
    if shutil.which(argv[0]) is None:
        return None, ''
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None, ''
    return proc.returncode, proc.stdout.strip()


def blkid_value(device, field):
    """``blkid -p`` low-level probe of one field (TYPE, PTTYPE); '' when none, None if unknown."""
    rc, out = run_probe(['blkid', '-p', '-o', 'value', '-s', field, device])
    if rc is None:
        return None
    if rc == 2:  # nothing found
        return ''
    if rc != 0:
        return None
    return out.splitlines()[0] if out else ''


class PoolBackend:
    """Base class; one subclass per libvirt pool type (see backends/__init__.py)."""

    #: libvirt's pool type name
    type_name = None
    #: typed options this type takes (see TYPED_OPTIONS)
    options = ()
    #: options a new definition of this type must have
    required = ()
    #: accepted source_format values (empty: the option does not apply)
    source_formats = ()
    #: accepted auth_type values
    auth_types = ()
    #: auth_type -> the usage of the libvirt secret that authentication takes (checked before defining)
    auth_secret_usage = {}
    #: what the type can do, a subset of CAPABILITIES
    capabilities = frozenset()
    #: whether the volumes of this pool type take space as they are written, so that their capacities
    #: may add up to more than the pool holds (sparse files, RBD images) rather than all of it at creation
    thin_provisioned = False
    #: the build flags libvirt takes for each ``build`` mode of this type
    build_flags = {'if_missing': BUILD_NEW, 'no_overwrite': BUILD_NO_OVERWRITE, 'overwrite': BUILD_OVERWRITE}
    #: lists replaced as a whole when the task gives them
    atomic_paths = ('source/host', 'source/device', 'source/auth', 'source/adapter', 'fs:mount_opts')
    #: XML namespaces (extensions such as fs:mount_opts) libvirt stores for this type
    xml_namespaces = ()
    #: definition paths a running pool uses without a restart
    live_paths = ()
    #: a deleted pool of this type loses its data only if it has none (rmdir)
    delete_refuses_nonempty = False
    #: list options this type takes one entry of: option -> what the entry is
    single_entry = {}
    #: volume names that are part of the storage itself, not user data
    ignored_volumes = ()
    #: target path written into a new definition when the task gives none
    default_target = None
    #: volume formats storage_volume accepts (the first is the default); empty: no volumes made
    volume_formats = ()
    #: whether new volumes get a <target><format> element (block pools have no image format)
    volume_format_in_xml = True
    #: whether libvirt reads a volume's storage again when asked for its XML (its backend's refreshVol:
    #: the local file types open and stat the file), so that reading one shows the storage answers
    volume_read_probes_storage = False
    #: bytes by which this type may round a new volume's capacity up (extents, alignment, objects)
    volume_granularity = 1
    #: what that rounding is, for the docs, when it is not a constant of the type (see host_granularity)
    granularity_note = ''
    #: one line for the docs
    summary = ''
    #: what to do when the daemon lacks this type's storage driver (its pool capabilities say supported='no')
    driver_hint = None

    @classmethod
    def missing_driver_hint(cls):
        if cls.driver_hint:
            return cls.driver_hint
        return ('install its storage driver on the hypervisor (Debian, Ubuntu, Fedora and RHEL: package '
                'libvirt-daemon-driver-storage-%s) and restart libvirtd, or virtstoraged where libvirt runs as '
                'modular daemons' % cls.type_name)

    def __init__(self, params):
        self.params = dict((key, params.get(key)) for key in TYPED_OPTIONS)
        self.name = params.get('name')

    # ---- validation -------------------------------------------------
    def given(self, option):
        value = self.params.get(option)
        return value is not None

    def validate(self, defining):
        """Check the typed options; ``defining`` is True when no definition exists yet."""
        for option in TYPED_OPTIONS:
            if self.given(option) and option not in self.options:
                raise ValidationError(
                    option, 'option %s does not apply to pools of type %s; that type takes: %s'
                    % (option, self.type_name, ', '.join(self.options) or 'no typed options'))
        if defining:
            missing = [option for option in self.required if not self.given(option)]
            if missing:
                raise ValidationError(
                    missing[0], 'a new pool of type %s needs %s' % (self.type_name, ' and '.join(missing)))
        fmt = self.params.get('source_format')
        if fmt is not None and fmt not in self.source_formats:
            raise ValidationError(
                'source_format', 'source_format %r is not valid for type %s; accepted: %s'
                % (fmt, self.type_name, ', '.join(self.source_formats)))
        auth = self.params.get('auth_type')
        if auth is not None and auth not in self.auth_types:
            raise ValidationError('auth_type', 'auth_type %r is not valid for type %s; accepted: %s'
                                  % (auth, self.type_name, ', '.join(self.auth_types)))
        if any(self.given(opt) for opt in AUTH_OPTIONS):
            if not (auth and self.given('auth_username')):
                raise ValidationError('auth_type', 'authentication needs auth_type and auth_username together')
            if self.given('secret_usage') == self.given('secret_uuid'):
                raise ValidationError('secret_usage', 'authentication needs exactly one of secret_usage and secret_uuid')
        if self.params.get('target_mode') is not None:
            canon.parse_mode(self.params['target_mode'], 'target_mode', '0711')
        if self.params.get('secret_uuid') is not None:
            canon.uuid_text(self.params['secret_uuid'], 'secret_uuid')
        target = self.params.get('target')
        if target is not None and not str(target).startswith('/'):
            raise ValidationError('target', 'target %r must be an absolute path' % (target,))
        adapter = self.params.get('source_adapter')
        if adapter is not None:
            unknown = sorted(set(adapter) - set(ADAPTER_KEYS))
            if unknown:
                raise ValidationError('source_adapter', 'source_adapter: unknown key(s) %s; accepted: %s'
                                      % (', '.join(unknown), ', '.join(ADAPTER_KEYS)))
            if adapter.get('type') not in ADAPTER_TYPES:
                raise ValidationError('source_adapter', 'source_adapter.type must be one of: %s'
                                      % ', '.join(ADAPTER_TYPES))
            if adapter.get('parentaddr') is not None and (adapter.get('type') != 'scsi_host' or adapter.get('name')):
                raise ValidationError('source_adapter', 'source_adapter.parentaddr finds a scsi_host adapter by its '
                                      'PCI address instead of its name: it takes type scsi_host and no name')
            pool_options.BY_NAME['source_adapter'].write(adapter)  # parentaddr's parts, named when wrong
        for item in self.params.get('source_host') or ():
            parse_host(item, 'source_host')
        for option, what in self.single_entry.items():
            value = self.params.get(option)
            if value is not None and len(value) != 1:
                raise ValidationError(option, 'type %s takes exactly one entry in %s (the %s), got %d'
                                      % (self.type_name, option, what, len(value)))
        self.validate_type(defining)

    def validate_type(self, defining):
        """Type-specific checks; override as needed."""

    # ---- XML ----------------------------------------------------------
    def to_xml(self, defining=False):
        """The pool XML for the given options only (what is not given is left out).

        With ``defining``, type defaults (such as the target path) are filled in.
        """
        values = dict(self.params)
        if defining and self.default_target and not self.given('target'):
            values['target'] = self.default_target
        nsmap = pool_options.NAMESPACES if values.get('mount_opts') is not None else None
        root = xmlu.element('pool', nsmap=nsmap, type=self.type_name)
        xmlu.sub(root, 'name', self.name)
        return pool_options.write(root, values)

    # ---- what the type can do -----------------------------------------
    def can(self, capability):
        return capability in self.capabilities

    def volume_name_problem(self, name, definition):
        """Why ``name`` cannot name a new volume of the pool ``definition`` describes, or None."""
        return None

    #: a failed volume creation may leave a volume behind (libvirt made it, then refused it)
    volume_create_may_leave = False
    #: whether libvirt reads the format of an existing volume back (so a differing one can be refused)
    volume_format_read_back = True
    #: virStorageVolDeleteFlags used when deleting a volume of this type
    volume_delete_flags = 0

    def volume_delete_plan(self, definition, volume, read_secret, force):
        """(virStorageVolDeleteFlags, warning or None) to delete ``volume`` (a dict as live.volume_fields gives)
        of the pool ``definition``; raises RefusedError when the volume holds what a delete would take along and
        the task does not say ``force``. ``read_secret(usage, uuid=None, usage_id=None)`` gives the value of the
        pool's secret to a type that must ask the storage itself."""
        return self.volume_delete_flags, None

    #: libvirt copies a volume of this type into a pool of another type and back (virStorageVolCreateXMLFrom);
    #: when either side says False, a copy across pools is made by the collection: the volume created, then its
    #: bytes written from the source's
    libvirt_copies_across_types = True

    def volume_channel(self, definition, name, read_secret):
        """The bytes of volume ``name`` of the pool ``definition`` when libvirt's driver does not stream them: an
        object with ``send``, ``digest`` and ``download`` as stream.LibvirtChannel has them; None: libvirt streams
        them. Raises UnsupportedError, before anything is changed, when what it needs is not there.
        ``read_secret`` as for volume_delete_plan."""
        return None

    def start_failure_hint(self, definition, message, is_local):
        """What most likely made starting the pool ``definition`` fail with ``message``, or None."""
        return None

    def volume_delete_failure_hint(self, name, message):
        """What most likely made deleting volume ``name`` fail with ``message``, or None."""
        return None

    def capacity_tolerance(self, volume_format, granularity=None):
        """How far above a requested capacity a volume of ``volume_format`` may end up; ``granularity``
        is the pool's own (host_granularity), volume_granularity when not given."""
        pool = self.volume_granularity if granularity is None else granularity
        return max(pool, FORMAT_GRANULARITY.get(volume_format, 1))

    def host_granularity(self, definition, is_local, sizes=()):
        """Bytes by which the storage behind the running pool ``definition`` (its live XML, with
        <capacity> and <available>) rounds a volume up; ``sizes`` are capacities of volumes of the
        pool. Types whose rounding depends on how the storage was made read it from the host when
        ``is_local``; the others return volume_granularity."""
        return self.volume_granularity

    def needs_restart(self, changed_paths):
        """Whether a running pool must restart to use a definition that changed at ``changed_paths``."""
        for path in changed_paths:
            if not any(path == live or path.startswith(live + '/') for live in self.live_paths):
                return True
        return False

    def rebuild_paths(self):
        """Changed paths that a plain build applies to a built pool (e.g. directory permissions)."""
        return ()

    #: what a build with overwrite destroys on storage that holds something (said in refusals)
    overwrite_destroys = ''
    #: the host commands the probe reads the storage with (named when one is missing)
    probe_tools = ()
    #: the target is the root of a file system libvirt mounts: libvirt reads its permissions back from
    #: the mounted root at every refresh and never sets them (a build sets those of the directory below)
    mounted_target = False
    #: a running pool whose storage the probe finds missing is repaired by stop, build, start (the
    #: build of this type only makes a directory, it destroys nothing)
    rebuild_when_missing = False

    def apply_target_permissions(self, definition):
        """Set the permissions of ``definition``'s target on the mounted directory (mounted_target types)."""
        raise NotImplementedError

    def target_permissions_differ(self, definition):
        """Whether the mounted directory lacks ``definition``'s target permissions; None if unreadable."""
        return None

    def probe(self, definition):
        """Whether the storage behind ``definition`` (an lxml element) exists on this host.

        Returns a ProbeResult, or None when this type cannot tell.
        """
        return None

    # ---- helpers for subclasses ----------------------------------------
    @staticmethod
    def xml_text(definition, path):
        found = xmlu.find_path(definition, path)
        return found[0].text if found and found[0].text else None

    @classmethod
    def first_device(cls, definition):
        devices = cls.xml_attr_all(definition, 'source/device', 'path')
        return devices[0] if devices else None

    @staticmethod
    def xml_attr_all(definition, path, attr):
        return [el.get(attr) for el in xmlu.find_path(definition, path) if el.get(attr)]

    @staticmethod
    def probe_dir(path):
        if path is None:
            return None
        if os.path.isdir(path):
            return ProbeResult(BUILT, 'directory %s exists' % path)
        if os.path.exists(path):
            return ProbeResult(FOREIGN, '%s exists and is not a directory' % path)
        return ProbeResult(MISSING, 'directory %s does not exist' % path)


def validate_name(name, option='name', volume=False):
    """Refuse a pool name (or with ``volume``, a volume name) libvirt refuses or misreads.

    libvirt refuses "/" in both and a newline in a pool name; it cannot carry a NUL at all, and a
    volume named "." or ".." is the pool's own directory or its parent ("target path already
    exists"). Every control character is refused, since a name is also a file or device name.
    """
    if not name or not _NAME_RE.match(name):
        raise ValidationError(option, '%s %r is not valid: it must be non-empty, must not start with a blank '
                                      'and must not contain "/"' % (option, name))
    control = [char for char in name if ord(char) < 0x20 or 0x7f <= ord(char) < 0xa0]
    if control:
        raise ValidationError(option, '%s %r is not valid: it contains the control character %r; a name is '
                                      'printable text' % (option, name, control[0]))
    if volume and name in ('.', '..'):
        raise ValidationError(option, '%s %r is not valid: "." and ".." name directories, not volumes'
                              % (option, name))
