# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The storage volume manager: reads the volumes of one pool, plans the steps to the desired state.

One task handles one volume or many (``volumes``): one connection, one pool
lookup, one listing of the pool.  What a pool type can do with volumes comes
from its backend; the engine applies the plan.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd
import shutil
import tempfile

from ansible_collections.kvmops.storage.plugins.module_utils import canon
from ansible_collections.kvmops.storage.plugins.module_utils import export
from ansible_collections.kvmops.storage.plugins.module_utils import qemu_img
from ansible_collections.kvmops.storage.plugins.module_utils import source
from ansible_collections.kvmops.storage.plugins.module_utils import stream
from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.backends import backend_class
from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import (
    CAPABILITIES,
    DISK_VOLUME_FORMATS,
    FILE_VOLUME_FORMATS,
    PoolBackend,
    validate_name,
)
from ansible_collections.kvmops.storage.plugins.module_utils.pool_options import id_number
from ansible_collections.kvmops.storage.plugins.module_utils.connection import (
    VIR_ERR_NO_SECRET,
    VIR_ERR_NO_STORAGE_POOL,
    VIR_ERR_NO_STORAGE_VOL,
    VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA,
    VIR_STORAGE_VOL_RESIZE_SHRINK,
    call,
    call_retrying,
    error_message,
    libvirt,
    lookup,
)
from ansible_collections.kvmops.storage.plugins.module_utils.engine import Manager, Plan
from ansible_collections.kvmops.storage.plugins.module_utils.inuse import InUse, describe_domains, describe_overlays
from ansible_collections.kvmops.storage.plugins.module_utils.live import (
    SECRET_USAGE_BY_NUMBER,
    SECRET_USAGES,
    image_directory,
    size_of,
    volume_fields,
)
from ansible_collections.kvmops.storage.plugins.module_utils.records import volume_record_of
from ansible_collections.kvmops.storage.plugins.module_utils.errors import (
    OperationError,
    RefusedError,
    UnsupportedError,
    ValidationError,
)
from ansible_collections.kvmops.storage.plugins.module_utils.units import human_size, parse_size

STATES = ('present', 'absent')
PREALLOCATION = ('off', 'metadata', 'falloc', 'full')
# virStorageVolWipeAlgorithm
WIPE_ALGORITHMS = ('zero', 'nnsa', 'dod', 'bsi', 'gutmann', 'schneier', 'pfitzner7', 'pfitzner33', 'random', 'trim')
CHECKSUM_ALGORITHMS = source.CHECKSUM_ALGORITHMS
# options that describe the volume, mutually exclusive with xml
TYPED_VOLUME_OPTIONS = ('capacity', 'allocation', 'preallocation', 'format', 'backing_store', 'clone_from',
                        'content', 'mode', 'owner', 'group', 'encryption')
# encryption formats libvirt creates volumes in (qcow's own encryption it refuses to create)
ENCRYPTION_FORMATS = ('luks',)
# volume formats that hold a LUKS-encrypted disk (a raw volume is then a LUKS container)
_ENCRYPTED_FORMATS = ('raw', 'qcow2')
# formats that can have a backing store
_BACKED_FORMATS = ('qcow2', 'qed', 'vmdk')
#: seconds content.url may keep the module waiting for a connection or for more data
DEFAULT_TIMEOUT = 30


def content_options():
    """The suboptions of ``content`` (where the bytes of an import come from)."""
    return dict(
        src=dict(type='path'),
        url=dict(type='str'),
        checksum=dict(type='str'),
        timeout=dict(type='float'),
        validate_certs=dict(type='bool'),
        ca_path=dict(type='path'),
        url_username=dict(type='str'),
        url_password=dict(type='str', no_log=True),
        force=dict(type='bool'),
        compare=dict(type='bool'),
        convert=dict(type='bool'),
        tmpdir=dict(type='path'),
    )


def item_options():
    """The options of one volume (top level, and each item of ``volumes``); none has a default
    here so that an item can tell "not given" from a value."""
    return dict(
        name=dict(type='str'),
        xml=dict(type='str'),
        capacity=dict(type='raw'),
        allocation=dict(type='raw'),
        preallocation=dict(type='str', choices=list(PREALLOCATION)),
        format=dict(type='str'),
        backing_store=dict(type='dict', options=dict(path=dict(type='str', required=True),
                                                     format=dict(type='str'))),
        clone_from=dict(type='dict', options=dict(name=dict(type='str', required=True),
                                                  pool=dict(type='str'),
                                                  verify=dict(type='bool'),
                                                  move=dict(type='bool'))),
        content=dict(type='dict', options=content_options(), mutually_exclusive=[['src', 'url']],
                     required_one_of=[['src', 'url']]),
        mode=dict(type='raw'),
        owner=dict(type='raw'),
        group=dict(type='raw'),
        state=dict(type='str', choices=list(STATES)),
        wipe=dict(type='str', choices=list(WIPE_ALGORITHMS)),
        allow_shrink=dict(type='bool'),
        force=dict(type='bool'),
        export=dict(type='dict', options=export.export_options()),
        encryption=dict(type='dict', options=dict(format=dict(type='str', choices=list(ENCRYPTION_FORMATS)),
                                                  secret_uuid=dict(type='str', no_log=False),
                                                  secret_usage=dict(type='str', no_log=False)),
                        mutually_exclusive=[['secret_uuid', 'secret_usage']],
                        required_one_of=[['secret_uuid', 'secret_usage']]),
    )


def volume_argument_spec():
    """The module's options that are not connection options."""
    spec = item_options()
    items = item_options()
    items['name']['required'] = True
    spec.update(
        pool=dict(type='str', required=True),
        volumes=dict(type='list', elements='dict', options=items),
        state=dict(type='str', default='present', choices=list(STATES)),
        allow_shrink=dict(type='bool', default=False),
        force=dict(type='bool', default=False),
    )
    return spec


# Options of one volume that cannot go together, with the reason: checked by validate_item for the
# single volume and for each item of ``volumes`` alike (so an item's message names volumes[N].option).
EXCLUSIVE_OPTIONS = ([('xml', option, 'xml is the whole definition of the volume, instead of the typed options')
                      for option in TYPED_VOLUME_OPTIONS]
                     + [('allocation', 'preallocation', 'preallocation sets the allocation (off: 0; falloc and '
                                                        'full: the capacity; metadata: the image metadata)'),
                        ('clone_from', 'content', 'a new volume is either a copy of a volume or a file uploaded'),
                        ('clone_from', 'backing_store', 'a clone copies its source; a backing store makes an '
                                                        'empty overlay'),
                        ('content', 'backing_store', 'an upload writes a whole image; a backing store makes an '
                                                     'empty overlay'),
                        ('encryption', 'clone_from', 'an encrypted copy of a volume is not made by this module yet: '
                                                     'create the encrypted volume and import the image with content'),
                        ('encryption', 'backing_store', 'an encrypted overlay is not made by this module: create '
                                                        'an encrypted volume of its own')])
# what AnsibleModule checks itself; the volume options are checked by validate_item
MUTUALLY_EXCLUSIVE = [['name', 'volumes']]
REQUIRED_ONE_OF = [['name', 'volumes']]


def _exclusive(given, prefix):
    """Refuse two options of EXCLUSIVE_OPTIONS both in ``given`` (a dict of the options given)."""
    def opt(option):
        return '%s.%s' % (prefix, option) if prefix else option
    for first, second, why in EXCLUSIVE_OPTIONS:
        if given.get(first) is not None and given.get(second) is not None:
            raise ValidationError(opt(first), '%s and %s cannot be given together: %s'
                                  % (opt(first), opt(second), why))


def validate_item(own, defaults=None, prefix=''):
    """The values of one volume: ``own`` are the options the volume itself gives (the single
    volume's, or one item of ``volumes``), ``defaults`` the task's options an item inherits.

    The same checks for both: options of EXCLUSIVE_OPTIONS together are refused, and so is wipe
    without state=absent. An inherited option that one of the item's own options excludes is not
    inherited (an item with xml takes no format from the task; preallocation on an item overrides
    the task's allocation), so only contradictions within one level are refused.
    """
    own = dict((key, value) for key, value in own.items() if value is not None)
    _exclusive(own, prefix)
    values = dict(defaults or {})
    for first, second, _why in EXCLUSIVE_OPTIONS:
        for mine, other in ((first, second), (second, first)):
            if mine in own and other not in own:
                values.pop(other, None)
    values.update(own)
    if own.get('wipe') and (values.get('state') or 'present') != 'absent':
        wipe = '%s.wipe' % prefix if prefix else 'wipe'
        raise ValidationError(wipe, '%s runs before a volume is deleted: it needs state=absent' % wipe)
    if own.get('export') and (values.get('state') or 'present') != 'present':
        option = '%s.export' % prefix if prefix else 'export'
        raise ValidationError(option, '%s writes out a volume that stays: it needs state=present' % option)
    return values


def sniff_image(path):
    """(format, virtual size) of an image file, read from its header; raw images are their own size."""
    size = os.path.getsize(path)
    with open(path, 'rb') as handle:
        head = handle.read(source.HEAD)
    return source.image_of(head, size)


def _clean_path(path):
    """``path`` with ``//``, ``/./``, ``dir/..`` and a trailing ``/`` taken out (a leading ``//`` too)."""
    cleaned = os.path.normpath(path)
    if cleaned.startswith('//'):
        cleaned = '/' + cleaned.lstrip('/')
    return cleaned


class LiveVolume:
    """What libvirt says about a volume right now (from its XML only: one call per volume)."""

    def __init__(self, vol, text):
        self.vol = vol
        self.xml = xmlu.parse(text)
        self.fields = fields = volume_fields(self.xml)
        self.name = fields['name']
        self.type = fields['type']
        self.key = fields['key']
        self.path = fields['path']
        self.format = fields['format']
        self.capacity = fields['capacity']
        self.allocation = fields['allocation']
        self.backing_store = fields['backing_store']
        self.mode = fields['mode']
        self.owner = fields['owner']
        self.group = fields['group']

    def describe(self, pool_name):
        """The record storage_facts gives too (records.volume_record)."""
        return volume_record_of(self.fields, pool_name)


class LivePoolVolumes:
    """The pool of the task and its volumes that the task names."""

    def __init__(self, pool, pool_xml, volumes, refresh=False, unread=(), assumed=None):
        self.pool = pool
        self.type = pool_xml.get('type') if pool_xml is not None else None
        self.volumes = volumes
        #: whether the real run refreshes the pool before planning (listed as a step that changes nothing)
        self.refresh = refresh
        #: check mode: names libvirt lists only after that refresh (files already in the pool's directory)
        self.unread = set(unread)
        #: check mode: why the pool is assumed (it is missing or inactive; an earlier task makes it)
        self.assumed = assumed


class Request:
    """One volume as the task asks for it, validated against the pool's backend."""

    def __init__(self, values, prefix, backend, pool_xml, is_local, single, strict_xml=False):
        self.values = values
        self.strict_xml = strict_xml  # a document libvirt's parser refuses is refused before libvirt is asked
        self.prefix = prefix
        self.backend = backend
        self.pool_xml = pool_xml
        self.is_local = is_local
        self.name = values.get('name')
        self.state = values.get('state') or 'present'
        self.force = bool(values.get('force'))
        self.allow_shrink = bool(values.get('allow_shrink'))
        self.wipe = values.get('wipe')
        self.capacity = None
        self.allocation = None
        self.prealloc_metadata = False
        self.format = None
        self.backing_store = None
        self.clone_from = values.get('clone_from')
        self.content = values.get('content')
        self.image = None  # (format, virtual size, size of the image's bytes) of content; None: known after the transfer
        self.compression = None  # of content, found by check_content
        self.convert_to = None  # the format qemu-img converts content to first (check_content), or None
        self.checksum = None
        self.mode = self.owner = self.group = None
        self.encryption = None  # {'format', 'secret_uuid', 'secret_usage'}; the manager sets 'uuid'
        self.raw_xml = None
        self.single = single  # wipe and the exclusive options are checked by validate_item
        validate_name(self.name, self.opt('name'), volume=True)
        self.export = None
        if values.get('export'):
            self.export = export.ExportRequest(values['export'], lambda option: self.opt('export.%s' % option))
        if values.get('xml'):
            self._from_xml(values['xml'])
        else:
            self._typed()

    def opt(self, option):
        return '%s.%s' % (self.prefix, option) if self.prefix else option

    # ---- validation ---------------------------------------------------------
    def _typed(self):
        v = self.values
        if v.get('capacity') is not None:
            self.capacity = self._positive_size('capacity')
        if v.get('allocation') is not None:
            self.allocation = parse_size(v['allocation'], self.opt('allocation'))
        prealloc = v.get('preallocation')
        if prealloc in ('falloc', 'full'):
            self.allocation = self.capacity
        elif prealloc == 'off':
            self.allocation = 0
        self.prealloc_metadata = prealloc == 'metadata'
        fmt = v.get('format')
        formats = self.backend.volume_formats
        if fmt is not None and fmt not in formats:
            raise ValidationError(self.opt('format'), '%s %r is not a volume format of %s pools; accepted: %s'
                                  % (self.opt('format'), fmt, self.backend.type_name, ', '.join(formats) or 'none'))
        self.format = fmt
        backing = v.get('backing_store')
        if backing:
            self.backing_store = {'path': _clean_path(backing['path']), 'format': backing.get('format')}
            if fmt is None:
                self.format = 'qcow2' if 'qcow2' in formats else None
            if self.format is not None and self.format not in _BACKED_FORMATS and self.backend.volume_format_in_xml:
                raise ValidationError(self.opt('format'), '%s %r cannot have a backing store; use one of: %s'
                                      % (self.opt('format'), self.format, ', '.join(_BACKED_FORMATS)))
        clone = self.clone_from
        if clone is not None:
            validate_name(clone['name'], self.opt('clone_from.name'), volume=True)
        if self.content is not None:
            self._content_options()
        mode = v.get('mode')
        if mode is not None:
            self.mode = canon.format_mode(canon.parse_mode(mode, self.opt('mode'), '0600'))
        if v.get('owner') is not None:
            self.owner = str(id_number(v['owner'], self.opt('owner'), lambda n: pwd.getpwnam(n).pw_uid))
        if v.get('group') is not None:
            self.group = str(id_number(v['group'], self.opt('group'), lambda n: grp.getgrnam(n).gr_gid))
        if v.get('encryption'):
            self._encryption_options()

    def _encryption_options(self):
        given = self.values['encryption']
        option = self.opt('encryption')
        if not self.file_pool():
            raise ValidationError(option, '%s: libvirt encrypts volumes of image-file pools (dir, fs, netfs); %s pools '
                                  'are not among them' % (option, self.backend.type_name))
        fmt = self.effective_format()
        if fmt not in _ENCRYPTED_FORMATS:
            raise ValidationError(self.opt('format'), '%s %r cannot be LUKS-encrypted; use one of: %s'
                                  % (self.opt('format'), fmt, ', '.join(_ENCRYPTED_FORMATS)))
        for key in ('secret_uuid', 'secret_usage'):
            if given.get(key) is not None and not given[key].strip():
                raise ValidationError('%s.%s' % (option, key), '%s.%s: give a non-empty value' % (option, key))
        self.encryption = {'format': given.get('format') or 'luks', 'secret_uuid': given.get('secret_uuid'),
                           'secret_usage': given.get('secret_usage')}

    def _positive_size(self, option):
        size = parse_size(self.values[option], self.opt(option))
        if size <= 0:
            raise ValidationError(self.opt(option), '%s %r: a volume needs a size above 0'
                                  % (self.opt(option), self.values[option]))
        return size

    def _content_options(self):
        """content: src or url, the checksum's form, a timeout above 0 (the source is read by check_content)."""
        content = self.content
        if (content.get('src') is None) == (content.get('url') is None):
            raise ValidationError(self.opt('content'), '%s: give one of src (a file on the host running the module) '
                                  'and url (an http:// or https:// URL fetched from that host)' % self.opt('content'))
        if content.get('url') is not None:
            source.validate_url(content['url'], self.opt('content.url'))
        timeout = content.get('timeout')
        if timeout is not None and not timeout > 0:
            raise ValidationError(self.opt('content.timeout'), '%s %r: give the seconds to wait, above 0'
                                  % (self.opt('content.timeout'), timeout))
        if content.get('checksum'):
            self.checksum = source.parse_checksum(content['checksum'], self.opt('content.checksum'))

    def content_option(self):
        """The option that names the source: content.src or content.url."""
        return self.opt('content.url' if self.content.get('url') is not None else 'content.src')

    def content_name(self):
        """The source as messages and the diff show it: the file's path, or the URL without credentials."""
        url = self.content.get('url')
        return source.shown_url(url) if url is not None else self.content['src']

    def open_content(self, algorithm=None):
        """A source.Source over content.src or content.url."""
        content = self.content
        if content.get('url') is not None:
            timeout = content.get('timeout')
            return source.open_http(content['url'], self.opt('content.url'),
                                    timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                                    validate_certs=content.get('validate_certs') is not False,
                                    ca_path=content.get('ca_path'), username=content.get('url_username'),
                                    password=content.get('url_password'), algorithm=algorithm)
        return source.open_file(content['src'], self.opt('content.src'), algorithm)

    def check_content(self):
        """Read the first bytes of content.src or content.url: only when the volume is to be made from it (a
        re-run needs no file). Sets ``image`` and ``compression``."""
        if self.image is not None:
            return
        option = self.content_option()
        opened = self.open_content()
        try:
            head, compression, length = opened.head, opened.compression, opened.length
        finally:
            opened.close()
        if not head:
            raise ValidationError(option, '%s %r holds no image: %s' % (
                option, self.content_name(), 'it is empty' if compression is None else
                'its %s data decompresses to nothing' % compression))
        # the size of the image is known before the transfer when it is not compressed and its length is known
        size = length if compression is None else None
        fmt, virtual = source.image_of(head, size)
        convert = self.content.get('convert') is not False
        if self.file_pool():
            # file pools keep the image as it is (its format is the volume's), unless format asks for another
            if self.format is not None and self.format != fmt:
                if not convert:
                    raise ValidationError(self.opt('format'), '%s is %s but %s %r is a %s image, and %s is false'
                                          % (self.opt('format'), self.format, option, self.content_name(), fmt,
                                             self.opt('content.convert')))
                self.convert_to = self.format
            else:
                self.format = fmt
        elif fmt != 'raw' and convert:
            # the volumes of this pool type hold the guest's bytes: an image arrives as raw
            self.convert_to = 'raw'
        if self.convert_to is not None:
            qemu_img.require(self.opt('content.convert'), 'converts the %s image %s to %s before the upload'
                             % (fmt, self.content_name(), self.convert_to),
                             'set %s=false to upload the %s bytes as they are' % (self.opt('content.convert'), fmt))
            tmpdir = self.content.get('tmpdir')
            if tmpdir is not None and not os.path.isdir(tmpdir):
                raise ValidationError(self.opt('content.tmpdir'), '%s %r: no such directory on the host running the '
                                      'module' % (self.opt('content.tmpdir'), tmpdir))
            reference = source.qcow2_reference(head)
            if reference:
                raise ValidationError(option, '%s %r: the qcow2 image names %s, which converting it would read on the '
                                      'host running the module; it is refused. Nothing was changed'
                                      % (option, self.content_name(), reference))
        self.image = (fmt, virtual if virtual is not None else size, size)
        self.compression = compression

    def makes_volume(self):
        """Whether the task says how to make the volume when it is missing."""
        return (self.raw_xml is not None or self.capacity is not None or self.clone_from is not None
                or self.content is not None or self.backing_store is not None)

    def file_pool(self):
        """Whether the pool holds image files (its volumes have a format; raw among them)."""
        backend = self.backend
        return bool(backend.volume_format_in_xml and backend.volume_formats and 'raw' in backend.volume_formats)

    def _from_xml(self, text):
        option = self.opt('xml')
        root = canon.xml_document(text, option, 'volume', self.name)
        # libvirt's parser reads sizes and defaults as the daemon will; the document itself is what is sent
        parsed = canon.volume_document(root, self.backend.type_name, option, self.strict_xml)
        if parsed is None:
            parsed = root
        capacity = xmlu.find_path(parsed, 'capacity')
        if not capacity:
            raise ValidationError(option, '%s: a volume needs <capacity>' % option)
        try:
            self.capacity = size_of(capacity[0], option)
        except ValidationError as exc:
            raise ValidationError(option, exc.msg)
        fmt = xmlu.find_path(parsed, 'target/format')
        self.format = fmt[0].get('type') if fmt else None
        backing = xmlu.find_path(parsed, 'backingStore/path')
        if backing and backing[0].text:
            self.backing_store = {'path': backing[0].text.strip(), 'format': None}
        self.raw_xml = root

    # ---- desired definition -------------------------------------------------
    def effective_format(self):
        """The format the new volume will have."""
        if self.format is not None:
            return self.format
        return self.backend.volume_formats[0] if self.backend.volume_formats else None

    def to_xml(self, capacity, fmt):
        """The XML of the new volume."""
        if self.raw_xml is not None:
            return self.raw_xml
        root = xmlu.element('volume')
        xmlu.sub(root, 'name', self.name)
        xmlu.sub(root, 'capacity', str(capacity), unit='bytes')
        allocation = self.allocation
        if allocation is None and self.backend.volume_format_in_xml and 'raw' in self.backend.volume_formats:
            allocation = 0  # image files are sparse unless the task asks for preallocation
        if allocation is not None:
            xmlu.sub(root, 'allocation', str(min(allocation, capacity)), unit='bytes')
        target = xmlu.sub(root, 'target')
        if fmt is not None and self.backend.volume_format_in_xml:
            xmlu.sub(target, 'format', type=fmt)
        if self.encryption is not None:
            encryption = xmlu.sub(target, 'encryption', format=self.encryption['format'])
            xmlu.sub(encryption, 'secret', type='passphrase', uuid=self.encryption['uuid'])
        if self.mode or self.owner or self.group:
            perms = xmlu.sub(target, 'permissions')
            for tag in ('mode', 'owner', 'group'):
                if getattr(self, tag) is not None:
                    xmlu.sub(perms, tag, getattr(self, tag))
        if self.backing_store:
            backing = xmlu.sub(root, 'backingStore')
            xmlu.sub(backing, 'path', self.backing_store['path'])
            if self.backing_store.get('format'):
                xmlu.sub(backing, 'format', type=self.backing_store['format'])
        return root


# qemu-img times its LUKS key derivation with the thread's CPU time and gives up with this message when
# the clock it reads does not advance (seen on virtual machines, about one creation in three): the
# creation is tried again, at most this many times in all
_LUKS_TIMING_FAILED = 'Unable to get accurate CPU usage'
_LUKS_TIMING_TRIES = 4

# actions that change what a volume holds (an export after them is written again)
_CONTENT_ACTIONS = ('create', 'clone', 'upload', 'resize', 'shrink', 'delete', 'wipe', 'convert')


def _discard(job):
    """Remove the temporary directory of a conversion (_stage), if any."""
    directory = job.pop('dir', None)
    if directory:
        shutil.rmtree(directory, ignore_errors=True)


def _props(desc):
    """Diff text of a volume description (sizes in bytes and for people)."""
    if desc is None:
        return ''
    lines = []
    for key in ('name', 'pool', 'format', 'capacity', 'allocation', 'backing_store', 'encryption', 'mode', 'owner',
                'group', 'source', 'export'):
        value = desc.get(key)
        if value is None:
            continue
        if key in ('capacity', 'allocation'):
            value = '%d (%s)' % (value, human_size(value))
        elif isinstance(value, dict):
            value = ', '.join('%s=%s' % (k, v) for k, v in sorted(value.items()) if v is not None)
        lines.append('%s: %s' % (key, value))
    return '\n'.join(lines) + '\n'


class _Source:
    """The volume clone_from names: its pool (object, name, definition, backend) and the volume (LiveVolume)."""

    def __init__(self, pool, pool_name, pool_xml, backend, live):
        self.pool = pool
        self.pool_name = pool_name
        self.pool_xml = pool_xml
        self.backend = backend
        self.live = live


class _AssumedPoolBackend(PoolBackend):
    """Check mode only: the backend of a pool an earlier task is assumed to define (its type is not
    known yet), so the volumes are checked only as far as any pool type takes them."""

    type_name = 'not yet defined'
    capabilities = frozenset(CAPABILITIES)
    volume_formats = FILE_VOLUME_FORMATS + DISK_VOLUME_FORMATS
    volume_format_in_xml = False


class VolumeManager(Manager):
    """Plans one task of storage_volume: a single volume, or the items of ``volumes``."""

    def __init__(self, conn, params, is_local=True):
        self.conn = conn
        self.params = params
        self.is_local = is_local
        self.pool_name = params['pool']
        validate_name(self.pool_name, 'pool')
        self.bulk = params.get('volumes') is not None
        self.result_key = 'volumes' if self.bulk else 'volume'
        if self.bulk:
            defaults = dict((key, params.get(key)) for key in item_options() if key != 'name')
            if defaults.get('xml') is not None:
                raise ValidationError('xml', 'xml describes one volume (its <name> is the volume\'s); with volumes, '
                                             'give xml in the items it describes')
            _exclusive(defaults, '')
            if defaults.get('export') is not None:
                raise ValidationError('export', 'export names one file; with volumes, give export in the items to '
                                                'export')
            self.items = []
            seen = {}
            for index, item in enumerate(params['volumes']):
                values = validate_item(item, defaults, 'volumes[%d]' % index)
                name = values.get('name')
                if name in seen:
                    raise ValidationError('volumes', 'volumes: %r is named twice (items %d and %d)'
                                          % (name, seen[name], index))
                seen[name] = index
                self.items.append(('volumes[%d]' % index, values))
            if not self.items:
                raise ValidationError('volumes', 'volumes is empty; give at least one volume')
            if defaults.get('wipe') and all(values.get('state') != 'absent' for _prefix, values in self.items):
                raise ValidationError('wipe', 'wipe runs before a volume is deleted: it needs state=absent '
                                              '(on the task or on the items to delete)')
        else:
            self.items = [('', validate_item(dict((key, params.get(key)) for key in item_options())))]
        self.requests = None
        self._in_use = None
        self._removed = set()  # (pool, name) of the volumes this task deletes, in plan order
        self._listed = set()
        self._planned = {}

    # ---- reading -----------------------------------------------------------------
    def _lookup_pool(self, name, option='pool'):
        pool = lookup('looking up pool %s' % name, self.conn.storagePoolLookupByName, name,
                      missing=(VIR_ERR_NO_STORAGE_POOL,))
        if pool is None:
            raise ValidationError(option, '%s %r: no such storage pool; define it first (kvmops.storage.storage_pool)'
                                  % (option, name))
        return pool

    def read(self):
        """The pool and the named volumes, read without changing anything.

        A volume made outside libvirt (a file copied into the pool's directory, an LV made by
        lvcreate) is listed only after a pool refresh; where the module can look at the pool's
        directory that is needed only when such a file is there, elsewhere whenever a named volume is
        not listed (``live.refresh``).  The real run refreshes when it plans (``plan``), so that the plan
        sees what the refresh finds; check mode does not: libvirt stops a pool whose refresh fails (an
        NFS unmount, an iSCSI logout; a transient pool is gone).  The plan lists that refresh in both
        modes.
        """
        try:
            pool = self._lookup_pool(self.pool_name)
        except ValidationError as exc:
            if not self.check_mode:
                raise
            self._make_requests(None, _AssumedPoolBackend({'name': self.pool_name}))
            assumed = ('%s; check mode assumes that an earlier task of this run defines and starts it, and predicts '
                       'every volume as new (whether the real run refreshes the pool first depends on its type)'
                       % exc.msg)
            return LivePoolVolumes(None, None, {}, assumed=assumed)
        pool_xml = xmlu.parse(call('reading the pool definition', pool.XMLDesc, 0))
        active = call('reading the pool state', pool.isActive)
        self._make_requests(pool_xml)
        if not active:
            msg = ('pool %s is not active, so its volumes cannot be read or changed; start it first '
                   '(kvmops.storage.storage_pool state=active)' % self.pool_name)
            if not self.check_mode:
                raise RefusedError(msg)
            # starting a pool lists its volumes: in a local directory pool those whose file is there
            refresh, unread = self._refresh_needed(pool_xml, set(request.name for request in self.requests))
            return LivePoolVolumes(pool, pool_xml, {}, refresh=refresh and not unread, unread=unread,
                                   assumed='%s; check mode assumes that an earlier task of this run starts it, and '
                                           'predicts as new every volume it cannot see' % msg)
        by_name = self._list(pool)
        refresh, unread = self._refresh_needed(pool_xml, set(request.name for request in self.requests) - set(by_name))
        return LivePoolVolumes(pool, pool_xml, self._read_volumes(by_name), refresh=refresh, unread=unread)

    def _read_volumes(self, by_name):
        self._listed = set(by_name)
        volumes = {}
        for request in self.requests:
            vol = by_name.get(request.name)
            if vol is not None and request.name not in volumes:
                volumes[request.name] = LiveVolume(vol, call('reading volume %s' % request.name, vol.XMLDesc, 0))
        return volumes

    def _refresh(self, live):
        """The real run's refresh before planning (see read): the volumes it finds join ``live``."""
        call_retrying('refreshing pool %s' % self.pool_name, live.pool.refresh, 0)
        live.volumes = self._read_volumes(self._list(live.pool))
        live.unread = set()

    def _make_requests(self, pool_xml, backend=None):
        if self.requests is None:
            if backend is None:
                backend = backend_class(pool_xml.get('type'))({'name': self.pool_name})
            strict = canon.same_library(self.conn)
            self.requests = [Request(values, prefix, backend, pool_xml, self.is_local, not self.bulk, strict)
                             for prefix, values in self.items]

    def _refresh_needed(self, pool_xml, unlisted):
        """(whether the real run refreshes the pool, the unlisted names that are files in its directory).

        Where the module runs on the hypervisor and the pool holds image files in a directory, a
        refresh can only add a volume whose file is there; elsewhere any unlisted name may show up."""
        if not unlisted:
            return False, set()
        directory = image_directory(pool_xml, self.requests[0].backend, self.is_local)
        if directory is None:
            return True, set()
        if not os.path.isdir(directory):
            return False, set()  # no file to find, and a refresh would fail (and stop the pool)
        found = set(name for name in unlisted if os.path.lexists(os.path.join(directory, name)))
        return bool(found), found

    def _list(self, pool):
        return dict((vol.name(), vol) for vol in call('listing the volumes of pool %s' % self.pool_name,
                                                      pool.listAllVolumes, 0))

    # ---- result --------------------------------------------------------------------
    def describe(self, live, plan=None):
        described = []
        for request in self.requests or ():
            vol = live.volumes.get(request.name) if live is not None else None
            desc = vol.describe(self.pool_name) if vol is not None else {
                'name': request.name, 'pool': self.pool_name, 'state': 'absent'}
            if self.bulk and plan is not None:
                desc['changed'] = plan.changed_of(request.name)
                desc['actions'] = plan.actions_of(request.name)
            described.append(desc)
        if self.bulk:
            return described
        return described[0] if described else {'name': self.params.get('name'), 'pool': self.pool_name}

    # ---- planning ------------------------------------------------------------------
    def plan(self, live):
        plan = Plan(per_subject=self.bulk)
        diffs = []
        if live.assumed:
            plan.warnings.append(live.assumed)
        if live.refresh:
            if not self.check_mode:
                self._refresh(live)
            # made now, before the plan, which needs what the refresh finds; check mode only lists it
            plan.add('refresh', lambda: None, changes=False)
        for request in self.requests:
            vol = live.volumes.get(request.name)
            before = vol.describe(self.pool_name) if vol is not None else None
            if request.name in live.unread:
                plan.warnings.append('volume %s: its file is in the directory of pool %s but libvirt does not list it '
                                     'yet; the real run compares the volume with the task once libvirt lists it (after '
                                     'a refresh), check mode does not look further' % (request.name, self.pool_name))
                continue
            if live.pool is None:
                after = self._plan_assumed(plan, request)
            elif request.state == 'absent':
                after = self._plan_removal(plan, live, request, vol)
            elif vol is None and request.export is not None and not request.makes_volume():
                after = self._missing_export_source(plan, request)
            elif vol is None:
                after = self._plan_create(plan, live, request)
            else:
                after = self._plan_update(plan, live, request, vol)
            if request.export is not None:
                before, after = self._plan_export(plan, live, request, vol, before, after)
            if plan.actions_of(request.name):
                diffs.append({'before': _props(before), 'after': _props(after),
                              'before_header': 'volume %s/%s (live)' % (self.pool_name, request.name),
                              'after_header': 'volume %s/%s (desired)' % (self.pool_name, request.name)})
        if self.bulk:
            plan.diff = diffs or None
        else:
            plan.diff = diffs[0] if diffs else {'before': '', 'after': ''}
        return plan

    def _require(self, request, capability, what):
        if not request.backend.can(capability):
            raise UnsupportedError('volume %s: %s pools cannot %s (pool %s); nothing was changed'
                                   % (request.name, request.backend.type_name, what, self.pool_name))
        if capability == 'volume_upload' and request.pool_xml is not None:
            # a backend's own channel says now when what it needs is missing
            request.backend.volume_channel(request.pool_xml, request.name, self._pool_secret_value)

    def _channel(self, pool, backend, pool_xml, name, vol=None):
        """The bytes of volume ``name`` of ``pool`` (a pool of type ``backend`` defined by ``pool_xml``): the
        backend's channel, or else libvirt's streams (``vol``, or the volume looked up when they move)."""
        channel = backend.volume_channel(pool_xml, name, self._pool_secret_value)
        if channel is not None:
            return channel
        return stream.LibvirtChannel(self.conn, vol if vol is not None else lambda: self._vol(pool, name))

    def _plan_assumed(self, plan, request):
        """Check mode, pool not defined yet: the steps a new, empty pool would take (its type is unknown)."""
        name = request.name
        if request.state == 'absent':
            return None

        def missing():
            raise OperationError('pool %s does not exist' % self.pool_name)
        capacity = request.capacity
        if request.clone_from is not None:
            plan.add('clone', missing, subject=name)
            source = request.clone_from.get('pool') or self.pool_name
            source_record = '%s/%s' % (source, request.clone_from['name'])
        elif request.content is not None:
            request.check_content()
            plan.add('create', missing, subject=name)
            plan.add('upload', missing, subject=name)
            capacity = max(capacity or 0, request.image[1] or 0) or None
            source_record = request.content_name()
        else:
            if capacity is None and request.backing_store is None:
                raise ValidationError(request.opt('capacity'), 'volume %s does not exist, so %s is needed to create '
                                      'it (or clone_from, content or backing_store)' % (name, request.opt('capacity')))
            if capacity is None:
                capacity = self._backing_capacity(request)
            plan.add('create', missing, subject=name)
            source_record = None
        return {'name': name, 'pool': self.pool_name, 'format': request.format, 'capacity': capacity,
                'backing_store': request.backing_store, 'mode': request.mode, 'owner': request.owner,
                'group': request.group, 'source': source_record}

    def _plan_create(self, plan, live, request):
        name = request.name
        problem = request.backend.volume_name_problem(name, request.pool_xml)
        if problem:
            raise ValidationError(request.opt('name'), '%s %r: %s' % (request.opt('name'), name, problem))
        fmt = request.effective_format()
        if request.raw_xml is not None and request.backend.volume_format_in_xml and any(
                el.get('format') == 'qcow' for el in xmlu.find_path(request.raw_xml, 'target/encryption')):
            # the daemon refuses it only when it creates the volume: said here, check mode says it too
            option = request.opt('xml')
            raise ValidationError(option, "%s <encryption format='qcow'>: libvirt does not create qcow-encrypted "
                                  "images (creation of qcow2 encrypted image is not supported); use <encryption "
                                  "format='luks'>. Nothing was changed" % option)
        if request.encryption is not None:
            self._encryption_secret(plan, request)
        if request.clone_from is not None:
            return self._plan_clone(plan, live, request, fmt)
        if request.content is not None and request.encryption is not None:
            return self._plan_encrypted_import(plan, live, request, fmt)
        if request.content is not None:
            return self._plan_upload(plan, live, request, fmt)
        self._require(request, 'volume_create', 'create volumes')
        capacity = request.capacity
        if request.backing_store:
            self._require(request, 'volume_backing', 'make volumes over a backing store')
            backing_capacity = self._backing_capacity(request)
            capacity = capacity or backing_capacity
        if capacity is None:
            raise ValidationError(request.opt('capacity'), 'volume %s does not exist, so %s is needed to create it '
                                  '(or clone_from, content or backing_store)' % (name, request.opt('capacity')))
        definition = request.to_xml(capacity, fmt)
        flags = VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA if request.prealloc_metadata else 0
        plan.add('create', lambda: self._create(live.pool, definition, flags, request.backend), undo=lambda: self._delete(live.pool, name),
                 subject=name)
        return self._predicted(request, capacity, fmt, backing=request.backing_store)

    def _plan_clone(self, plan, live, request, fmt):
        self._require(request, 'volume_clone', 'clone volumes')
        source_pool_name = request.clone_from.get('pool') or self.pool_name
        source_pool = live.pool if source_pool_name == self.pool_name else self._lookup_pool(
            source_pool_name, request.opt('clone_from.pool'))
        source = lookup('looking up volume %s' % request.clone_from['name'], source_pool.storageVolLookupByName,
                        request.clone_from['name'], missing=(VIR_ERR_NO_STORAGE_VOL,))
        if source is None:
            raise ValidationError(request.opt('clone_from.name'), '%s %r: pool %s has no such volume'
                                  % (request.opt('clone_from.name'), request.clone_from['name'], source_pool_name))
        source_live = LiveVolume(source, call('reading volume %s' % request.clone_from['name'], source.XMLDesc, 0))
        if source_pool_name == self.pool_name:
            source_pool_xml = request.pool_xml
        else:
            source_pool_xml = xmlu.parse(call('reading the pool definition', source_pool.XMLDesc, 0))
        source_backend = backend_class(source_pool_xml.get('type'))({'name': source_pool_name})
        if request.format is None and source_live.format and source_live.format in request.backend.volume_formats:
            fmt = source_live.format
        capacity = source_live.capacity or 0
        self._refuse_smaller(request, capacity, fmt, 'the %s of clone_from %s/%s' % (
            human_size(capacity), source_pool_name, request.clone_from['name']),
            'a clone is at least as large as its source')
        definition = request.to_xml(capacity, fmt)
        name = request.name
        source_of = _Source(source_pool, source_pool_name, source_pool_xml, source_backend, source_live)
        checked = False  # the copy step compares what it wrote with what it read
        if source_pool_name != self.pool_name and not (request.backend.libvirt_copies_across_types and
                                                       source_backend.libvirt_copies_across_types):
            checked = self._plan_copy(plan, live, request, fmt, definition, source_of)
        else:
            plan.add('clone', lambda: self._clone(live.pool, definition, source),
                     undo=lambda: self._delete(live.pool, name), subject=name)
        if request.capacity is not None and request.capacity > capacity:
            # libvirt copies at the source's size; a larger capacity is a resize of the copy
            self._require(request, 'volume_resize', 'resize volumes')
            plan.add('resize', lambda: self._resize(live.pool, name, request.capacity, 0), subject=name)
            capacity = request.capacity
        self._plan_verify_and_move(plan, live, request, source_of, fmt, checked)
        return self._predicted(request, capacity, fmt, source='%s/%s' % (source_pool_name, request.clone_from['name']))

    def _plan_copy(self, plan, live, request, fmt, definition, source):
        """clone_from another pool where libvirt does not copy between the two types (into or out of rbd): the
        volume created at the source's capacity, then the source's bytes written into it, through the two
        pools' channels; a source image (qcow2...) is first converted to raw by qemu-img where the module runs,
        into a temporary directory. Returns whether the copy step checks what it wrote (a converted copy: the
        volume read back and compared with the converted file)."""
        name = request.name
        self._require(request, 'volume_create', 'create volumes')
        self._require(request, 'volume_upload', 'write volumes')
        what = '%s/%s' % (source.pool_name, source.live.name)
        if not source.backend.can('volume_upload'):
            raise UnsupportedError('volume %s: the bytes of %s pool %s cannot be read, so %s cannot be copied into a '
                                   '%s pool; nothing was changed' % (name, source.backend.type_name, source.pool_name,
                                                                     what, request.backend.type_name))
        source.backend.volume_channel(source.pool_xml, source.live.name, self._pool_secret_value)
        copy_format = self._bytes_format(request, fmt)
        if copy_format != 'raw':
            option = request.opt('format')
            raise ValidationError(option, 'volume %s: a copy of %s into a %s pool from a %s pool is written as raw '
                                  'bytes: set %s raw; nothing was changed' % (
                                      name, what, request.backend.type_name, source.backend.type_name, option))
        source_format = export.bytes_format(source.live.format if source.backend.volume_format_in_xml else 'raw')
        job = {}
        if source_format != 'raw':
            if not (self.is_local and source.live.path and os.path.exists(source.live.path)):
                raise UnsupportedError('volume %s: %s is a %s image, which is converted to raw by qemu-img for a %s '
                                       'pool: that needs the module on the hypervisor (not a remote uri) and the '
                                       'image as a file there; nothing was changed'
                                       % (name, what, source_format, request.backend.type_name))
            qemu_img.require(request.opt('clone_from'), 'converts %s to raw for a %s pool' % (
                what, request.backend.type_name), 'copy a raw volume')
            plan.add('convert', lambda: self._stage_volume(source, source_format, job), undo=lambda: _discard(job),
                     changes=False, subject=name)
        plan.add('create', lambda: self._create(live.pool, definition, 0, request.backend),
                 undo=lambda: self._delete(live.pool, name), subject=name)
        plan.add('copy', lambda: self._copy_bytes(live.pool, request, source, job), subject=name)
        return source_format != 'raw'

    @staticmethod
    def _stage_volume(origin, source_format, job):
        """The raw image of the volume ``origin`` (a file where the module runs) in a new temporary directory."""
        where = tempfile.gettempdir()
        try:
            job['dir'] = tempfile.mkdtemp(prefix='.kvmops-copy-', dir=where)
            converted = os.path.join(job['dir'], 'converted.raw')
            qemu_img.convert(source_format, 'raw', origin.live.path, converted)
            job.update(path=converted, size=os.path.getsize(converted))
        except (IOError, OSError) as exc:
            _discard(job)
            raise OperationError('converting %s to raw needs a temporary copy in %s (TMPDIR sets it), which failed: '
                                 '%s' % (origin.live.path, where, exc))
        except Exception:
            _discard(job)
            raise

    def _copy_bytes(self, pool, request, origin, job):
        """The bytes of ``origin`` (or of its converted image, ``job``) into the new volume."""
        name = request.name
        channel = self._channel(pool, request.backend, request.pool_xml, name)
        sparse = request.file_pool()
        capacity = origin.live.capacity or 0
        if job:
            try:
                opened = source.open_file(job['path'], request.opt('clone_from'), 'sha256')
                try:
                    channel.send(opened.read, capacity, opened.what, sparse, capacity, opened.skip_hole)
                    opened.finish()
                finally:
                    opened.close()
            finally:
                _discard(job)
            stored = channel.digest(opened.out, 'sha256')
            if stored != opened.image_digest:
                raise OperationError('volume %s does not hold what was copied: its first %d bytes have sha256 %s, '
                                     'not %s' % (name, opened.out, stored, opened.image_digest))
            return
        reading = self._channel(origin.pool, origin.backend, origin.pool_xml, origin.live.name, origin.live.vol)
        with reading.reader() as reader:
            channel.send(reader.read, capacity, '%s/%s' % (origin.pool_name, origin.live.name), sparse, capacity,
                         reader.skip)

    def _plan_verify_and_move(self, plan, live, request, source, fmt, checked=False):
        """clone_from.verify (the copy compared with the source; by default for a copy from another pool and a
        move) and clone_from.move (the source deleted after the verified copy). ``checked``: the copy step
        compares the copy with the converted image it wrote, which stands for the verification."""
        source_pool_name, source_live, source_backend = source.pool_name, source.live, source.backend
        clone = request.clone_from
        move = bool(clone.get('move'))
        verify = clone.get('verify')
        if verify is None:
            verify = move or source_pool_name != self.pool_name
        elif move and not verify:
            raise ValidationError(request.opt('clone_from.verify'), '%s removes the source only after a verified copy: '
                                  'leave %s out or true' % (request.opt('clone_from.move'), request.opt('clone_from.verify')))
        source_format = export.bytes_format(source_live.format if source_backend.volume_format_in_xml else 'raw')
        copy_format = export.bytes_format(fmt if request.backend.volume_format_in_xml else 'raw')
        method = None
        if verify:
            if self._in_use is None:
                self._in_use = InUse(self.conn, self.is_local)
            writers = self._in_use.writers_of(source_pool_name, source_live.describe(source_pool_name))
            if writers:
                # the guest writes the source while it is copied: the copy cannot be compared with it
                if move or clone.get('verify'):
                    raise RefusedError('volume %s: %s/%s is written by running domain(s) %s now, so a copy of it cannot '
                                       'be verified%s; stop the domain first. Nothing was changed'
                                       % (request.name, source_pool_name, source_live.name, ', '.join(writers),
                                          ' and it is not moved' if move else ''), domains=writers)
                plan.warnings.append('volume %s: the copy of %s/%s is not verified: running domain(s) %s write it now, '
                                     'so the copy may not be consistent either' % (
                                         request.name, source_pool_name, source_live.name, ', '.join(writers)))
                verify = False
        if verify and checked:
            verify = False  # the copy step compares the volume with the image it wrote
        if verify:
            if source_format == copy_format == 'raw' and source_backend.can('volume_upload') and \
                    request.backend.can('volume_upload'):
                method = 'digest'  # the bytes, read through libvirt (wherever the module runs)
                # a type whose bytes move otherwise says now when what that needs is missing
                source_backend.volume_channel(source.pool_xml, source_live.name, self._pool_secret_value)
                request.backend.volume_channel(request.pool_xml, request.name, self._pool_secret_value)
            elif self.is_local and source_live.path and os.path.exists(source_live.path) and qemu_img.find():
                method = 'qemu-img'  # the disk the guest sees, compared by qemu-img compare on the hypervisor
            elif move or clone.get('verify'):
                raise ValidationError(request.opt('clone_from.verify'), '%s: a copy of %s %s/%s as %s cannot be verified '
                                      'here: %s. Nothing was changed' % (
                                          request.opt('clone_from.verify'), source_format, source_pool_name,
                                          source_live.name, copy_format, 'the module runs on another host than the '
                                          'volumes (a remote uri), where only raw bytes can be compared through '
                                          'libvirt' if not self.is_local else 'that needs qemu-img (%s) on the '
                                          'hypervisor and the source as a file or device there' % qemu_img.PACKAGES))
            else:
                plan.warnings.append('volume %s: the copy of %s/%s is not verified (a %s copy of a %s volume, with the '
                                     'module where it cannot read both as disks)'
                                     % (request.name, source_pool_name, source_live.name, copy_format, source_format))
        if method:
            plan.add('verify', lambda: self._verify_copy(live.pool, request, source, source_format, copy_format,
                                                         method), changes=False, subject=request.name)
        if move:
            if not source_backend.can('volume_delete'):
                raise UnsupportedError('volume %s: %s pools cannot delete volumes (pool %s), so %s is refused; nothing '
                                       'was changed' % (request.name, source_backend.type_name, source_pool_name,
                                                        request.opt('clone_from.move')))
            self._refuse_in_use(request, source_live, 'move', source_pool_name)
            flags, warning = source_backend.volume_delete_plan(source.pool_xml, source_live.describe(source_pool_name),
                                                               self._pool_secret_value, request.force)
            if warning:
                plan.warnings.append(warning)
            self._removed.add((source_pool_name, source_live.name))

            def delete_source():
                call_retrying('deleting volume %s/%s' % (source_pool_name, source_live.name), source_live.vol.delete,
                              flags)
                plan.keep(request.name)  # the copy is all there is now: a later failure must not delete it
            plan.add('delete_source', delete_source, subject=request.name)

    def _verify_copy(self, pool, request, origin, source_format, copy_format, method):
        """Compare the new volume with ``origin`` (a _Source): their bytes, or the disks qemu-img sees."""
        name = request.name
        copy = self._vol(pool, name)
        source = origin.live
        if method == 'digest':
            size = source.capacity or 0
            held = self._channel(origin.pool, origin.backend, origin.pool_xml, source.name, source.vol).digest(
                size, 'sha256')
            copied = self._channel(pool, request.backend, request.pool_xml, name, copy).digest(size, 'sha256')
            if held != copied:
                raise OperationError('volume %s does not hold what %s holds: the first %d bytes have sha256 %s, not %s'
                                     % (name, source.name, size, copied, held))
            return
        path = LiveVolume(copy, call('reading volume %s' % name, copy.XMLDesc, 0)).path
        if not path or not os.path.exists(path):
            raise OperationError('volume %s: its path %s is not on this host, so the copy cannot be compared' % (name, path))
        qemu_img.compare(source_format, copy_format, source.path, path)

    def _check_file_checksum(self, request):
        """content.checksum of a file, checked before anything is made (a URL is checked as it is transferred)."""
        if request.checksum and request.content.get('src') is not None:
            algorithm, expected = request.checksum
            found = stream.file_digest(request.content_name(), algorithm)
            if found != expected:
                raise ValidationError(request.opt('content.checksum'), '%s: %s has %s %s, not %s; nothing was changed'
                                      % (request.opt('content.checksum'), request.content_name(), algorithm, found,
                                         expected))

    def _plan_upload(self, plan, live, request, fmt):
        self._require(request, 'volume_upload', 'upload into volumes')
        self._require(request, 'volume_create', 'create volumes')
        request.check_content()
        fmt = request.effective_format()
        image_format, virtual, size = request.image
        what = request.content_name()
        self._check_file_checksum(request)
        if request.convert_to is not None:
            return self._plan_converted(plan, live, request)
        file_pool = request.backend.volume_format_in_xml and 'raw' in request.backend.volume_formats
        name = request.name
        most = None  # the largest image the volume takes, checked after the transfer
        if file_pool:
            # the image goes in as it is; libvirt reads its format and virtual size at the next refresh
            if virtual is not None:
                capacity = virtual
                if request.capacity is not None and request.capacity < virtual:
                    raise ValidationError(request.opt('capacity'), '%s %s is less than the %s image in %s (%s)'
                                          % (request.opt('capacity'), human_size(request.capacity), image_format,
                                             what, human_size(virtual)))
                # the size of the bytes to write: known for a file or a URL as it is (not compressed)
                definition = request.to_xml(size if size is not None else 0, 'raw')
            else:
                # a raw image whose size is known only once it is transferred: the volume is made
                # capacity (or empty) and takes what comes; more than capacity fails after the transfer
                capacity = request.capacity
                most = capacity
                definition = request.to_xml(capacity or 0, 'raw')
            length = size or 0
        elif size is not None:
            self._refuse_smaller(request, size, fmt, 'the %s of %s %s' % (human_size(size), request.content_option(),
                                                                          what), 'the file is written whole')
            capacity = max(request.capacity or 0, size)
            definition = request.to_xml(capacity, fmt)
            length = size
        else:
            if request.capacity is None:
                raise ValidationError(request.opt('capacity'), '%s is needed to import %s %s into a %s pool: the size '
                                      'of a %s is known only once it is transferred'
                                      % (request.opt('capacity'), request.content_option(), what,
                                         request.backend.type_name, 'compressed image' if request.compression
                                         else 'download without a Content-Length'))
            capacity = request.capacity
            definition = request.to_xml(capacity, fmt)
            length = capacity  # libvirt refuses more than the volume holds
        refresh = file_pool and (image_format != 'raw' or size is None)
        plan.add('create', lambda: self._create(live.pool, definition, 0, request.backend), undo=lambda: self._delete(live.pool, name),
                 subject=name)
        plan.add('upload', lambda: self._upload(live.pool, request, length, refresh, most, file_pool), subject=name)
        if file_pool and request.capacity is not None and capacity is not None and request.capacity > capacity:
            self._require(request, 'volume_resize', 'resize volumes')
            plan.add('resize', lambda: self._resize(live.pool, name, request.capacity, 0), subject=name)
            capacity = request.capacity
        return self._predicted(request, capacity, image_format if file_pool else fmt, source=what)

    def _plan_converted(self, plan, live, request, before_create=None):
        """content converted by qemu-img where the module runs (into a temporary directory), then uploaded:
        a non-raw image into a pool of raw volumes, or an image into a file pool's volume of another format."""
        image_format, virtual, _size = request.image
        target, name, what = request.convert_to, request.name, request.content_name()
        option = request.opt('capacity')
        if virtual is None and request.capacity is None:
            raise ValidationError(option, '%s is needed to convert %s %s (a %s image%s) to %s: its size is known only '
                                  'once it is converted' % (option, request.content_option(), what, image_format,
                                                            ', compressed' if request.compression else '', target))
        if virtual is not None and request.capacity is not None and request.capacity < virtual:
            raise ValidationError(option, '%s %s is less than the %s image in %s (%s)' % (
                option, human_size(request.capacity), image_format, what, human_size(virtual)))
        capacity = request.capacity or virtual
        file_pool = request.file_pool()
        job = {}
        plan.add('convert', lambda: self._stage(request, job, capacity), undo=lambda: _discard(job), changes=False,
                 subject=name)
        if before_create is not None:
            before_create()  # the delete of a re-import, once the conversion is done
        if file_pool:
            # the converted file goes in as it is; libvirt reads its format and size at the refresh after
            plan.add('create', lambda: self._create(live.pool, request.to_xml(job['size'], 'raw'), 0, request.backend),
                     undo=lambda: self._delete(live.pool, name), subject=name)
            plan.add('upload', lambda: self._upload(live.pool, request, job['size'], True, sparse=True, job=job),
                     subject=name)
            if request.capacity is not None and (virtual is None or request.capacity > virtual):
                self._require(request, 'volume_resize', 'resize volumes')
                plan.add('resize', lambda: self._resize_to(live.pool, name, request.capacity), subject=name)
            fmt = target
        else:
            definition = request.to_xml(capacity, request.effective_format())
            plan.add('create', lambda: self._create(live.pool, definition, 0, request.backend),
                     undo=lambda: self._delete(live.pool, name), subject=name)
            plan.add('upload', lambda: self._upload(live.pool, request, job['size'], False, job=job), subject=name)
            fmt = request.effective_format()
        return self._predicted(request, capacity, fmt, source='%s (%s, converted to %s)' % (what, image_format, target))

    def _stage(self, request, job, capacity):
        """The converted image in a new temporary directory: ``job`` gets its path, size and virtual size. A
        compressed file or a URL is first written there as it decompresses (its checksum checked)."""
        content = request.content
        image_format = request.image[0]
        where = content.get('tmpdir') or tempfile.gettempdir()
        try:
            job['dir'] = tempfile.mkdtemp(prefix='.kvmops-import-', dir=where)
            if content.get('src') is not None and request.compression is None:
                staged = content['src']  # its checksum was checked when the task was planned
            else:
                staged = os.path.join(job['dir'], 'image.%s' % image_format)
                self._fetch(request, staged)
            qemu_img.refuse_references(staged, image_format, request.content_option(), request.content_name())
            converted = os.path.join(job['dir'], 'converted.%s' % request.convert_to)
            qemu_img.convert(image_format, request.convert_to, staged, converted)
            if staged != content.get('src'):
                os.unlink(staged)  # the space it took is free before the upload
            job.update(path=converted, size=os.path.getsize(converted),
                       virtual=qemu_img.virtual_size(converted, request.convert_to))
        except (IOError, OSError) as exc:
            _discard(job)
            raise OperationError('converting %s needs a temporary copy in %s, which failed: %s (%s sets the directory)'
                                 % (request.content_name(), where, exc, request.opt('content.tmpdir')))
        except Exception:
            _discard(job)
            raise
        if capacity is not None and job['virtual'] > capacity + self._tolerance(request, 'raw'):
            _discard(job)
            option = request.opt('capacity')
            raise OperationError('%s %s (%d bytes) is less than the %d bytes of the image in %s %s; leave %s out or give '
                                 'at least %d bytes' % (option, human_size(capacity), capacity, job['virtual'],
                                                        request.content_option(), request.content_name(), option,
                                                        job['virtual']))

    def _fetch(self, request, path):
        """content (decompressed) into the file ``path``, holes left as holes; content.checksum checked."""
        algorithm = request.checksum[0] if request.checksum else None
        opened = request.open_content(algorithm)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                sink = export.Sink(fd)
                for chunk in iter(lambda: opened.read(stream.CHUNK), b''):
                    sink.data(chunk)
                sink.close()
            finally:
                os.close(fd)
            opened.finish()
        finally:
            opened.close()
        if request.checksum and opened.digest != request.checksum[1]:
            raise OperationError('%s: %s has %s %s, not the %s expected; nothing was changed'
                                 % (request.opt('content.checksum'), request.content_name(), algorithm, opened.digest,
                                    request.checksum[1]))

    def _resize_to(self, pool, name, capacity):
        """Grow the volume to ``capacity`` unless it is that size already."""
        info = call('reading volume %s' % name, self._vol(pool, name).info)
        if int(info[1]) < capacity:
            self._resize(pool, name, capacity, 0)

    def _refuse_smaller(self, request, size, fmt, what, why):
        """Refuse a capacity the volume made from a source of ``size`` bytes would end above by more
        than the pool's rounding: the next run would see that as a shrink."""
        if request.capacity is None or size < request.capacity + self._tolerance(request, fmt):
            return
        option = request.opt('capacity')
        raise ValidationError(option, '%s %s (%d bytes) is less than %s (%d bytes): %s, so the volume would be larger '
                                      'than the task says; leave %s out or give at least %d bytes. Nothing was changed'
                              % (option, human_size(request.capacity), request.capacity, what, size, why, option, size))

    def _tolerance(self, request, fmt, vol=None):
        """Bytes by which a volume of format ``fmt`` in this pool (``vol``, when it exists) may be
        larger than its requested capacity."""
        sizes = (vol.capacity,) if vol is not None and vol.capacity else ()
        granularity = request.backend.host_granularity(request.pool_xml, self.is_local, sizes)
        return request.backend.capacity_tolerance(fmt, granularity)

    def _predicted(self, request, capacity, fmt, backing=None, source=None):
        target = xmlu.find_path(request.pool_xml, 'target/path')
        if target and target[0].text and request.backend.volume_format_in_xml and 'raw' in request.backend.volume_formats:
            # image-file pools: the path a later item of this task can use as its backing store
            self._planned[os.path.join(target[0].text.strip(), request.name)] = (capacity, fmt)
        predicted = {'name': request.name, 'pool': self.pool_name, 'format': fmt, 'capacity': capacity,
                     'backing_store': backing, 'mode': request.mode, 'owner': request.owner, 'group': request.group,
                     'source': source}
        if request.encryption is not None:
            predicted['encryption'] = '%s (secret %s)' % (request.encryption['format'], request.encryption['uuid'])
        return predicted

    def _backing_capacity(self, request):
        path = request.backing_store['path']
        option = request.opt('backing_store.path') if request.raw_xml is None else '%s <backingStore>' % request.opt('xml')
        if path in self._planned:
            # made earlier in this task
            capacity, fmt = self._planned[path]
            if request.backing_store.get('format') is None:
                request.backing_store['format'] = fmt
            return capacity
        try:
            backing = self.conn.storageVolLookupByPath(path)
        except libvirt.libvirtError:
            backing = None
        if backing is not None:
            info = call('reading volume %s' % path, backing.info)
            if request.backing_store.get('format') is None:
                found = LiveVolume(backing, call('reading volume %s' % path, backing.XMLDesc, 0)).format
                request.backing_store['format'] = found
            return int(info[1])
        if self.is_local and os.path.exists(path):
            fmt, virtual = sniff_image(path)
            if request.backing_store.get('format') is None:
                request.backing_store['format'] = fmt
            return virtual
        raise ValidationError(option, '%s %r: no volume of any pool has that path%s'
                              % (option, path, '' if not self.is_local else ' and no such file exists'))

    def _reimport_reason(self, request, vol):
        """Why a volume that exists is imported again (None: it is left as it is): content.force, or
        content.compare finding that its first bytes do not have content.checksum."""
        content = request.content
        if content is None or request.clone_from is not None:
            return None
        if content.get('force'):
            return 'content.force'
        if not content.get('compare'):
            return None
        option = request.opt('content.compare')
        if not request.checksum:
            raise ValidationError(option, '%s compares the volume with %s: give it too'
                                  % (option, request.opt('content.checksum')))
        request.check_content()
        if request.compression is not None:
            raise ValidationError(option, '%s: %s %s is compressed with %s, so %s (of the file as given) is not the '
                                  'checksum of what the volume holds; leave %s out, or set %s to re-import'
                                  % (option, request.content_option(), request.content_name(), request.compression,
                                     request.opt('content.checksum'), option, request.opt('content.force')))
        if request.convert_to is not None:
            raise ValidationError(option, '%s: %s %s is converted to %s on import, so %s (of the file as given) is not '
                                  'the checksum of what the volume holds; leave %s out, or set %s to re-import'
                                  % (option, request.content_option(), request.content_name(), request.convert_to,
                                     request.opt('content.checksum'), option, request.opt('content.force')))
        size = request.image[2]
        if size is None:
            raise ValidationError(option, '%s: the server does not say how long %s is, so the bytes to compare are '
                                  'not known' % (option, request.content_name()))
        algorithm, expected = request.checksum
        if vol.capacity is not None and vol.capacity < size:
            return '%s: the volume is smaller than the image' % option
        held = self._channel(None, request.backend, request.pool_xml, vol.name, vol.vol).digest(size, algorithm)
        if held == expected:
            return None
        return '%s: the first %d bytes of the volume have %s %s' % (option, size, algorithm, held)

    def _plan_reimport(self, plan, live, request, vol, reason):
        """Delete the volume and import it again: a new volume, as _plan_create makes it. An image that is
        converted is converted first, so that a conversion that fails leaves the volume as it was."""
        request.check_content()
        what = 're-import (%s)' % reason
        if request.convert_to is not None:
            self._require(request, 'volume_upload', 'upload into volumes')
            self._require(request, 'volume_create', 'create volumes')
            return self._plan_converted(plan, live, request,
                                        before_create=lambda: self._plan_delete(plan, live, request, vol, what))
        self._plan_delete(plan, live, request, vol, what)
        return self._plan_upload(plan, live, request, request.effective_format())

    def _plan_update(self, plan, live, request, vol):
        name = request.name
        if request.encryption is not None:
            self._encryption_secret(plan, request)
            self._refuse_other_encryption(request, vol)
        reason = self._reimport_reason(request, vol)
        if reason is not None:
            return self._plan_reimport(plan, live, request, vol, reason)
        after = vol.describe(self.pool_name)
        live_format = vol.format or ('raw' if not request.backend.volume_format_in_xml else None)
        if not canon.same_volume_format(request.format, live_format) and request.backend.volume_format_read_back:
            raise RefusedError('volume %s exists with format %s, not %s; images are not converted. Nothing was '
                               'changed' % (name, live_format, request.format))
        live_backing = (vol.backing_store or {}).get('path')
        if request.backing_store and (live_backing and _clean_path(live_backing)) != _clean_path(
                request.backing_store['path']):
            raise RefusedError('volume %s exists with backing store %s, not %s; a backing store is set only when '
                               'the volume is created. Nothing was changed'
                               % (name, (vol.backing_store or {}).get('path') or 'none', request.backing_store['path']))
        # <capacity>0</capacity> of an xml document: libvirt makes the smallest image it can (a qcow2 header)
        if request.capacity and vol.capacity is not None:
            self._plan_resize(plan, live, request, vol, after)
        self._plan_permissions(plan, live, request, vol, after)
        return after

    def _plan_resize(self, plan, live, request, vol, after):
        name = request.name
        wanted, current = request.capacity, vol.capacity
        tolerance = self._tolerance(request, vol.format, vol)
        if wanted <= current < wanted + tolerance:
            return
        if wanted > current:
            self._require(request, 'volume_resize', 'resize volumes')
            flags = 0
            action = 'resize'
        else:
            if not request.allow_shrink:
                raise RefusedError('volume %s is %s and capacity asks for %s: shrinking loses the data past the new '
                                   'end, so it is refused; set allow_shrink=true to shrink it'
                                   % (name, human_size(current), human_size(wanted)),
                                   capacity=current)
            self._require(request, 'volume_resize', 'resize volumes')
            self._refuse_in_use(request, vol, 'shrink')
            flags = VIR_STORAGE_VOL_RESIZE_SHRINK
            action = 'shrink'
        plan.add(action, lambda: self._resize(live.pool, name, wanted, flags), subject=name)
        after['capacity'] = wanted

    def _plan_permissions(self, plan, live, request, vol, after):
        changes = dict((key, getattr(request, key)) for key in ('mode', 'owner', 'group')
                       if getattr(request, key) is not None and getattr(request, key) != getattr(vol, key))
        if not changes:
            return
        if not self.is_local or not vol.path or not os.path.exists(vol.path):
            raise UnsupportedError('volume %s has %s; libvirt cannot change the permissions of an existing volume, '
                                   'and the module can only when it runs on the hypervisor that holds the file'
                                   % (request.name, ', '.join('%s %s' % (k, getattr(vol, k)) for k in sorted(changes))))
        after.update(changes)
        plan.add('chmod' if set(changes) == {'mode'} else 'chown' if 'mode' not in changes else 'chmod_chown',
                 lambda: self._set_permissions(live.pool, vol.path, changes), subject=request.name)

    def _plan_removal(self, plan, live, request, vol):
        if vol is None:
            return None
        self._plan_delete(plan, live, request, vol, 'wipe and delete' if request.wipe else 'delete', request.wipe)
        self._removed.add((self.pool_name, request.name))
        return None

    def _plan_delete(self, plan, live, request, vol, what, wipe=None):
        """The steps that delete the volume (after wiping it with the ``wipe`` algorithm), refused
        while something uses it; ``what``: the words for the refusal."""
        self._require(request, 'volume_delete', 'delete volumes')
        if wipe:
            self._require(request, 'volume_wipe', 'wipe volumes')
        self._refuse_in_use(request, vol, what)
        name = request.name
        flags, warning = request.backend.volume_delete_plan(request.pool_xml, vol.describe(self.pool_name),
                                                            self._pool_secret_value, request.force)
        if warning:
            plan.warnings.append(warning)
        if wipe:
            algorithm = WIPE_ALGORITHMS.index(wipe)
            plan.add('wipe', lambda: call('wiping volume %s' % name, self._vol(live.pool, name).wipePattern, algorithm, 0),
                     subject=name)
        plan.add('delete', lambda: self._delete(live.pool, name, flags), subject=name)

    # ---- export -------------------------------------------------------------------
    def _missing_export_source(self, plan, request):
        """export of a volume that does not exist, by a task that does not make it: refused by the real run;
        check mode assumes that an earlier task of the run makes it (as it does for a missing pool)."""
        msg = ('%s: volume %s does not exist in pool %s, and the task gives nothing to make it from (capacity, '
               'clone_from, content, backing_store or xml)' % (request.opt('export'), request.name, self.pool_name))
        if not self.check_mode:
            raise ValidationError(request.opt('export'), '%s, so there is nothing to export' % msg)
        plan.warnings.append('%s; check mode assumes that an earlier task of this run makes it, and predicts its '
                             'export' % msg)
        return None

    def _bytes_format(self, request, fmt):
        return export.bytes_format(fmt if request.backend.volume_format_in_xml else 'raw')

    def _plan_export(self, plan, live, request, vol, before, after):
        """The export step, when the file at export.dest is not a current export of the volume; the
        export's record goes into the result (``export``, or ``exports`` with volumes). Returns the
        diff's before and after with the export's line."""
        wanted = request.export
        name = request.name
        option = request.opt('export')
        self._require(request, 'volume_upload', 'export volumes (their bytes cannot be read)')
        backing = (vol.backing_store if vol is not None else None) or (after or {}).get('backing_store')
        if backing:
            raise RefusedError('%s: volume %s is an overlay of %s, so its own bytes are not the whole disk; clone it '
                               '(clone_from) into a volume of its own and export that. Nothing was changed'
                               % (option, name, backing.get('path') if isinstance(backing, dict) else backing))
        if request.encryption is not None or (vol is not None and xmlu.find_path(vol.xml, 'target/encryption')):
            raise RefusedError('%s: volume %s is encrypted, so its bytes are LUKS ciphertext that needs the secret to '
                               'read; the module does not export encrypted volumes. Nothing was changed'
                               % (option, name))
        fmt = self._bytes_format(request, vol.format if vol is not None else (after or {}).get('format'))
        wanted.check_tools(fmt)
        if self.is_local and request.pool_xml is not None:
            wanted.refuse_volume_file(vol.path if vol is not None else None,
                                      image_directory(request.pool_xml, request.backend, self.is_local))
        record = wanted.record(fmt)
        if vol is None:
            reason = 'the volume is made by this task'
        else:
            if not wanted.force_in_use:
                self._refuse_written(request, vol)
            made = wanted.made('%s/%s' % (self.pool_name, name), vol.key, fmt,
                               lambda: export.content_mark(
                                   self._channel(live.pool, request.backend, request.pool_xml, name, vol.vol), vol.xml,
                                   wanted.algorithm))
            changing = [action for action in plan.actions_of(name) if action in _CONTENT_ACTIONS]
            if changing:
                reason = 'this task changes the volume first (%s)' % ', '.join(changing)
            else:
                reason = export.stale_reason(wanted, made)
        shown = None
        old = export.read_sidecar(wanted.sidecar) if os.path.isfile(wanted.dest) else None
        if old is not None:
            shown = '%s (%s:%s)' % (wanted.dest, wanted.algorithm, old['checksum'])
        if reason is None:
            record.update(written=False, checksum='%s:%s' % (wanted.algorithm, made['checksum']),
                          size=os.path.getsize(wanted.dest))
        else:
            record['reason'] = reason
            plan.add('export', lambda: self._export(live.pool, request, record), subject=name)
        if self.bulk:
            record = dict(record, name=name)
            plan.outputs.setdefault('exports', []).append(record)
        else:
            plan.outputs['export'] = record
        before = dict(before or {}, export=shown) if before is not None or shown else None
        after = dict(after or {}, export=shown if reason is None else '%s (%s%s, written: %s)' % (
            wanted.dest, record['format'], ', %s' % wanted.compress if wanted.compress else '', reason))
        return before, after

    def _refuse_written(self, request, vol):
        if self._in_use is None:
            self._in_use = InUse(self.conn, self.is_local)
        writers = self._in_use.writers_of(self.pool_name, vol.describe(self.pool_name))
        if writers:
            raise RefusedError('%s: volume %s is written by running domain(s) %s now, so a copy of it is not '
                               'consistent. Shut the domain down, or take a disk-only external snapshot (virsh '
                               'snapshot-create-as DOMAIN --disk-only) so that the volume becomes a backing file '
                               'nobody writes, or freeze its file systems (virsh domfsfreeze, then domfsthaw) and set '
                               '%s=true to export it while it runs. Nothing was changed'
                               % (request.opt('export'), request.name, ', '.join(writers),
                                  request.opt('export.force_in_use')), domains=writers)

    def _export(self, pool, request, record):
        wanted = request.export
        vol = self._vol(pool, request.name)
        root = xmlu.parse(call('reading volume %s' % request.name, vol.XMLDesc, 0))
        fields = volume_fields(root)
        mark = export.fingerprint(root)
        made = wanted.made('%s/%s' % (self.pool_name, request.name), fields['key'],
                           self._bytes_format(request, fields['format']), mark)

        def unchanged():
            if mark is not None and export.fingerprint(xmlu.parse(call('reading volume %s' % request.name,
                                                                       vol.XMLDesc, 0))) != mark:
                raise OperationError('volume %s changed while it was exported (%s before); nothing was written to %s'
                                     % (request.name, mark, wanted.dest))
        channel = self._channel(pool, request.backend, request.pool_xml, request.name, vol)
        checksum, size = export.write(channel, wanted, self._bytes_format(request, fields['format']), made, unchanged)
        record.update(checksum='%s:%s' % (wanted.algorithm, checksum), size=size)

    # ---- what uses a volume ------------------------------------------------------
    def _refuse_in_use(self, request, vol, what, pool_name=None):
        """Refuse to ``what`` a volume (of ``pool_name``, the task's pool by default) that a domain uses, or that
        is in the backing chain of a volume of any pool (the domains of those overlays named too), unless force."""
        if request.force:
            return
        if self._in_use is None:
            self._in_use = InUse(self.conn, self.is_local)
        pool_name = pool_name or self.pool_name
        fields = vol.describe(pool_name)
        users = self._in_use.domains_of(pool_name, fields)
        overlays = self._in_use.overlays_of(fields, skip=self._removed)
        if not users and not overlays:
            return
        blocks = []
        if users:
            blocks.append('used by domain(s) %s' % describe_domains(users))
        if overlays:
            blocks.append('the backing store of volume(s) %s' % describe_overlays(overlays))
        domains = set(use.name for use in users)
        domains.update(use.name for o in overlays for use in o.domains)
        shown = vol.name if pool_name == self.pool_name else '%s/%s' % (pool_name, vol.name)
        raise RefusedError('volume %s is %s; set force=true to %s it anyway' % (shown, ' and '.join(blocks), what),
                           domains=sorted(domains), volumes=['%s/%s' % (o.pool, o.name) for o in overlays])

    def _pool_secret_value(self, usage, uuid=None, usage_id=None):
        """The value of the secret a pool authenticates with (found by uuid, or by usage type and id), for a
        backend that asks the storage itself; raises OperationError when libvirt will not give it (a private
        secret). The value goes to the backend only, never into a result."""
        try:
            if uuid:
                secret = self.conn.secretLookupByUUIDString(uuid)
            else:
                secret = self.conn.secretLookupByUsage(SECRET_USAGES[usage][0], usage_id)
            return secret.value(0)
        except libvirt.libvirtError as exc:
            raise OperationError('the value of secret %s cannot be read: %s' % (uuid or usage_id, error_message(exc)))

    # ---- encryption ----------------------------------------------------------------
    def _encryption_secret(self, plan, request):
        """The libvirt secret (of usage volume) whose passphrase encrypts the volume; sets encryption['uuid']. A
        missing one is refused; check mode assumes that an earlier task of the run makes it (storage_secret)."""
        wanted = request.encryption
        by_uuid = wanted['secret_uuid'] is not None
        option = request.opt('encryption.secret_uuid' if by_uuid else 'encryption.secret_usage')
        shown = 'uuid %s' % wanted['secret_uuid'] if by_uuid else 'usage volume %r' % wanted['secret_usage']
        try:
            if by_uuid:
                secret = self.conn.secretLookupByUUIDString(wanted['secret_uuid'])
            else:
                secret = self.conn.secretLookupByUsage(SECRET_USAGES['volume'][0], wanted['secret_usage'])
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != VIR_ERR_NO_SECRET:
                raise OperationError('looking up the secret of %s failed: %s' % (option, error_message(exc)))
            msg = ('%s: libvirt has no secret of %s; make it first (kvmops.storage.storage_secret with usage volume and '
                   'the passphrase as its value)' % (option, shown))
            if not self.check_mode:
                raise ValidationError(option, '%s. Nothing was changed' % msg)
            plan.warnings.append('%s; check mode assumes that an earlier task of this run makes it' % msg)
            wanted.update(uuid=wanted['secret_uuid'] or '(the secret of usage volume %r)' % wanted['secret_usage'],
                          missing=True)
            return None
        usage = SECRET_USAGE_BY_NUMBER.get(secret.usageType())
        if usage != 'volume':
            raise ValidationError(option, '%s: secret %s has usage %s; a volume is encrypted with a secret of usage '
                                  'volume' % (option, secret.UUIDString(), usage))
        wanted.update(uuid=secret.UUIDString(), missing=False)
        return secret

    def _refuse_other_encryption(self, request, vol):
        found = xmlu.find_path(vol.xml, 'target/encryption')
        secret = xmlu.find_path(found[0], 'secret') if found else []
        live = (found[0].get('format'), secret[0].get('uuid') if secret else None) if found else None
        wanted = request.encryption
        if live != (wanted['format'], wanted['uuid']):
            raise RefusedError('volume %s exists %s, not with %s encryption by secret %s; encryption is set only when '
                               'a volume is created (make a new volume and import the disk). Nothing was changed'
                               % (request.name, 'unencrypted' if live is None else 'with %s encryption by secret %s'
                                  % live, wanted['format'], wanted['uuid']))

    def _passphrase(self, request):
        """The value of the encryption's secret (for qemu-img, through a file); a private secret is refused."""
        try:
            return self.conn.secretLookupByUUIDString(request.encryption['uuid']).value(0)
        except libvirt.libvirtError as exc:
            raise ValidationError(request.opt('encryption'), '%s: libvirt does not give the value of secret %s (%s), so '
                                  'an image cannot be written through the encryption; make the secret with private '
                                  'false, or create the volume without content. Nothing was changed'
                                  % (request.opt('encryption'), request.encryption['uuid'], error_message(exc)))

    def _plan_encrypted_import(self, plan, live, request, fmt):
        """content into a new LUKS-encrypted volume: libvirt creates the volume (its LUKS header made with the
        secret's passphrase), then qemu-img writes the image's disk into it through the encryption - on the
        hypervisor, with the passphrase in a file only the module's user reads, removed after."""
        self._require(request, 'volume_create', 'create volumes')
        option = request.opt('encryption')
        if not self.is_local:
            raise UnsupportedError('%s: an image is written into an encrypted volume by qemu-img on the hypervisor, '
                                   'and with a remote uri the module runs elsewhere: run the task on the hypervisor. '
                                   'Nothing was changed' % option)
        qemu_img.require(option, 'writes the image into the encrypted volume', 'create the volume without content')
        for flag in ('force', 'compare'):
            if request.content.get(flag):
                raise ValidationError(request.opt('content.%s' % flag), '%s: an encrypted volume holds what the '
                                      'encryption makes of the image, so it is not imported again; leave it out'
                                      % request.opt('content.%s' % flag))
        request.check_content()
        image_format, virtual, _size = request.image
        capacity_option = request.opt('capacity')
        if virtual is None and request.capacity is None:
            raise ValidationError(capacity_option, '%s is needed to import %s %s into an encrypted volume: its size is '
                                  'known only once it is transferred' % (capacity_option, request.content_option(),
                                                                         request.content_name()))
        if virtual is not None and request.capacity is not None and request.capacity < virtual:
            raise ValidationError(capacity_option, '%s %s is less than the %s image in %s (%s)' % (
                capacity_option, human_size(request.capacity), image_format, request.content_name(),
                human_size(virtual)))
        self._check_file_checksum(request)
        if self._secret_known(request):
            self._passphrase(request)  # a private secret is refused now
        capacity = request.capacity or virtual
        definition = request.to_xml(capacity, fmt)
        name = request.name
        plan.add('create', lambda: self._create(live.pool, definition, 0, request.backend),
                 undo=lambda: self._delete(live.pool, name), subject=name)
        plan.add('upload', lambda: self._write_encrypted(live.pool, request, image_format, fmt), subject=name)
        return self._predicted(request, capacity, fmt, source=request.content_name())

    @staticmethod
    def _secret_known(request):
        """Whether the encryption's secret exists (check mode goes on without it)."""
        return not request.encryption.get('missing')

    def _write_encrypted(self, pool, request, image_format, fmt):
        name = request.name
        vol = LiveVolume(self._vol(pool, name), call('reading volume %s' % name, self._vol(pool, name).XMLDesc, 0))
        content = request.content
        where = content.get('tmpdir') or tempfile.gettempdir()
        workdir = tempfile.mkdtemp(prefix='.kvmops-import-', dir=where)
        try:
            if content.get('src') is not None and request.compression is None:
                staged = content['src']
            else:
                staged = os.path.join(workdir, 'image.%s' % image_format)
                self._fetch(request, staged)
            qemu_img.refuse_references(staged, image_format, request.content_option(), request.content_name())
            keyfile = os.path.join(workdir, 'passphrase')
            fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'wb') as handle:
                handle.write(self._passphrase(request))
            qemu_img.write_encrypted(image_format, staged, fmt, vol.path, keyfile)
        except (IOError, OSError) as exc:
            raise OperationError('writing %s into encrypted volume %s needs a temporary directory in %s, which failed: '
                                 '%s (%s sets the directory)' % (request.content_name(), name, where, exc,
                                                                 request.opt('content.tmpdir')))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    # ---- libvirt operations ------------------------------------------------------
    def _vol(self, pool, name):
        return call('looking up volume %s' % name, pool.storageVolLookupByName, name)

    def _create(self, pool, definition, flags, backend=None):
        name = xmlu.find_path(definition, 'name')[0].text
        text = xmlu.to_string(definition, pretty=False)
        for attempt in range(_LUKS_TIMING_TRIES):
            try:
                call_retrying('creating volume %s' % name, pool.createXML, text, flags)
                break
            except OperationError as exc:
                if _LUKS_TIMING_FAILED in exc.msg and attempt + 1 < _LUKS_TIMING_TRIES:
                    continue  # nothing was made; the next measurement may succeed
                if backend is not None and backend.volume_create_may_leave:
                    self._remove_left_behind(pool)
                raise
        self._listed.add(name)

    def _remove_left_behind(self, pool):
        """Delete what a failed creation left (a partition libvirt made, then refused to name)."""
        try:
            pool.refresh(0)
            for vol in pool.listAllVolumes(0):
                if vol.name() not in self._listed:
                    vol.delete(0)
        except libvirt.libvirtError:
            pass

    def _clone(self, pool, definition, source):
        call_retrying('cloning volume %s' % source.name(), pool.createXMLFrom, xmlu.to_string(definition, pretty=False), source, 0)

    def _delete(self, pool, name, flags=None):
        backend = self.requests[0].backend if self.requests else None
        if flags is None:
            flags = backend.volume_delete_flags if backend is not None else 0
        try:
            call_retrying('deleting volume %s' % name, self._vol(pool, name).delete, flags)
        except OperationError as exc:
            hint = backend.volume_delete_failure_hint(name, exc.msg) if backend is not None else None
            if hint:
                exc.reword('%s (%s)' % (exc.msg, hint))
            raise

    def _resize(self, pool, name, capacity, flags):
        call('resizing volume %s' % name, self._vol(pool, name).resize, capacity, flags)

    def _set_permissions(self, pool, path, changes):
        try:
            if 'mode' in changes:
                os.chmod(path, int(changes['mode'], 8))
            if 'owner' in changes or 'group' in changes:
                os.chown(path, int(changes.get('owner', -1)), int(changes.get('group', -1)))
        except OSError as exc:
            raise OperationError('changing the permissions of %s failed: %s' % (path, exc))
        # libvirt reads permissions when it refreshes the pool
        call_retrying('refreshing pool %s' % self.pool_name, pool.refresh, 0)

    def _upload(self, pool, request, length, refresh, most=None, sparse=False, job=None):
        """Stream content.src or content.url into the volume (``length`` bytes; 0: what comes). The
        source's checksum is compared once all of it is read, and the volume is read back and compared
        with what was written; ``most``: the largest raw image the volume takes (the size it was made
        at); ``sparse``: the volume is a new file, where runs of zeros are left as holes; ``job``: the
        converted image of _stage instead (removed after)."""
        name = request.name
        channel = self._channel(pool, request.backend, request.pool_xml, name)
        algorithm = request.checksum[0] if request.checksum else None
        try:
            opened = (source.open_file(job['path'], request.content_option(), algorithm) if job is not None
                      else request.open_content(algorithm))
            try:
                channel.send(opened.read, length, opened.what, sparse, most or 0, opened.skip_hole)
                opened.finish()
            finally:
                opened.close()
        finally:
            if job is not None:
                _discard(job)
        if request.checksum:
            algorithm, expected = request.checksum
            if job is None and opened.digest != expected:
                if request.content.get('src') is not None:
                    raise OperationError('content.src %s changed while it was uploaded: %s %s, not %s'
                                         % (opened.what, algorithm, opened.digest, expected))
                raise OperationError('%s: %s has %s %s, not the %s expected'
                                     % (request.opt('content.checksum'), request.content_name(), algorithm,
                                        opened.digest, expected))
            stored = channel.digest(opened.out, algorithm)
            if stored != opened.image_digest:
                raise OperationError('volume %s does not hold what was uploaded: its first %d bytes have %s %s, not %s'
                                     % (name, opened.out, algorithm, stored, opened.image_digest))
        if most is not None and opened.out > most + self._tolerance(request, 'raw'):
            option = request.opt('capacity')
            raise OperationError('%s %s (%d bytes) is less than the %d bytes of the image in %s %s; leave %s out or '
                                 'give at least %d bytes' % (option, human_size(most), most, opened.out,
                                                             request.content_option(), request.content_name(), option,
                                                             opened.out))
        if refresh:
            call_retrying('refreshing pool %s' % self.pool_name, pool.refresh, 0)
