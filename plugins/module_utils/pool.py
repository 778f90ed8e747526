# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The storage pool manager: reads a pool, plans the steps to the desired state.

It knows libvirt's pool API; what differs between pool types comes from the
backend (backends/).  The engine applies the plan.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shutil

from ansible_collections.kvmops.storage.plugins.module_utils import canon
from ansible_collections.kvmops.storage.plugins.module_utils import pool_options
from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.backends import POOL_TYPES, backend_class
from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import BUILT, FOREIGN, MISSING, validate_name
from ansible_collections.kvmops.storage.plugins.module_utils.connection import (
    VIR_ERR_INVALID_ARG,
    VIR_ERR_NO_SECRET,
    VIR_ERR_NO_STORAGE_POOL,
    VIR_ERR_NO_SUPPORT,
    VIR_ERR_STORAGE_POOL_BUILT,
    VIR_STORAGE_XML_INACTIVE,
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
    volume_fields,
)
from ansible_collections.kvmops.storage.plugins.module_utils.records import pool_record
from ansible_collections.kvmops.storage.plugins.module_utils.errors import (
    OperationError,
    RefusedError,
    UnsupportedError,
    ValidationError,
)
from ansible_collections.kvmops.storage.plugins.module_utils.units import human_size, parse_size

_PERMISSION_OPTIONS = ('target_mode', 'target_owner', 'target_group')
STATES = ('present', 'active', 'inactive', 'absent', 'deleted')
BUILD_MODES = ('never', 'if_missing', 'no_overwrite', 'overwrite')
ON_CHANGE = ('restart', 'redefine_only', 'fail')

# Fields libvirt computes: never drift.
COMPUTED_PATHS = ('uuid', 'capacity', 'allocation', 'available', 'source/device/freeExtent')


def pool_argument_spec():
    """The module's options that are not connection options."""
    spec = dict(
        name=dict(type='str', required=True),
        type=dict(type='str'),
        xml=dict(type='str'),
        state=dict(type='str', default='active', choices=list(STATES)),
        autostart=dict(type='bool'),
        build=dict(type='str', default='if_missing', choices=list(BUILD_MODES)),
        on_change=dict(type='str', default='restart', choices=list(ON_CHANGE)),
        force=dict(type='bool', default=False),
        force_in_use=dict(type='bool', default=False),
        refresh=dict(type='bool', default=False),
        min_available=dict(type='raw'),
    )
    spec.update(pool_options.argument_spec())
    return spec


MUTUALLY_EXCLUSIVE = [['xml', option] for option in ('type',) + pool_options.TYPED_OPTIONS] + [['secret_usage', 'secret_uuid']]


class LivePool:
    """What libvirt says about a pool right now."""

    def __init__(self, pool):
        self.pool = pool
        self.xml = xmlu.parse(call('reading the pool definition', pool.XMLDesc, VIR_STORAGE_XML_INACTIVE))
        self.type = self.xml.get('type')
        self.active = bool(pool.isActive())
        self.persistent = bool(pool.isPersistent())
        self.autostart = bool(pool.autostart()) if self.persistent else False


def normalized(definition):
    """The definition without computed fields, re-indented for diffs."""
    return xmlu.pretty(xmlu.drop_paths(definition, COMPUTED_PATHS))


class PoolManager(Manager):
    result_key = 'pool'

    def __init__(self, conn, params, is_local=True):
        self.conn = conn
        self.params = params
        self.is_local = is_local
        self.name = params['name']
        self.state = params['state']
        validate_name(self.name)
        self.min_available = None
        if params.get('min_available') is not None:
            self.min_available = parse_size(params['min_available'], 'min_available')

    # ---- reading -------------------------------------------------------
    def _lookup(self):
        return lookup('looking up pool %s' % self.name, self.conn.storagePoolLookupByName, self.name,
                      missing=(VIR_ERR_NO_STORAGE_POOL,))

    def _pool(self):
        pool = self._lookup()
        if pool is None:
            raise OperationError('pool %s disappeared while the task was running' % self.name)
        return pool

    def read(self):
        pool = self._lookup()
        return LivePool(pool) if pool is not None else None

    def describe(self, live, plan=None):  # pylint: disable=unused-argument
        if live is None:
            return {'name': self.name, 'state': 'absent'}
        info = call('reading pool information', live.pool.info)
        # the record storage_facts gives too (records.pool_record), and the definition; the volumes are not
        # read, so provisioned and overcommit_ratio stay null
        result = pool_record(live.xml, info, live.active, live.persistent, live.autostart)
        result['xml'] = xmlu.to_string(normalized(live.xml))
        return result

    # ---- desired definition ----------------------------------------------
    def _desired(self, live):
        """(backend, desired definition element) for this task."""
        params = self.params
        defining = live is None and self.state not in ('absent', 'deleted')
        if params.get('xml'):
            root = canon.xml_document(params['xml'], 'xml', 'pool', self.name)
            type_name = root.get('type')
            if type_name is None:
                raise ValidationError('xml', 'xml: <pool> needs a type attribute; accepted: %s' % ', '.join(POOL_TYPES))
            cls = backend_class(type_name, 'xml')
            backend = cls({'name': self.name})
            if defining:
                self._check_driver(cls, 'xml')
            # libvirt's own parser puts the document in the form the daemon stores
            partial = canon.pool_document(root, 'xml', canon.same_library(self.conn))
        else:
            type_name = params.get('type')
            if type_name is None:
                if defining:
                    raise ValidationError('type', 'pool %s does not exist yet, so type is required; accepted: %s'
                                          % (self.name, ', '.join(POOL_TYPES)))
                type_name = live.type
            cls = backend_class(type_name)
            backend = cls(params)
            backend.validate(defining)
            if defining:
                self._check_driver(cls, 'type')
            partial = backend.to_xml(defining=defining)
        if live is not None and type_name != live.type and self.state not in ('absent', 'deleted'):
            raise RefusedError('pool %s exists with type %s; changing its type to %s needs state=absent first '
                               '(the data stays where it is)' % (self.name, live.type, type_name))
        desired = partial if live is None else xmlu.merge(live.xml, partial, backend.atomic_paths)
        return backend, desired

    def _check_driver(self, cls, option):
        """A new pool of a type whose storage driver the daemon lacks is refused before anything is defined, in
        check mode too (libvirt's define would fail with "missing backend for pool type N").  A daemon older
        than libvirt 5.2 does not report its pool capabilities: the define then tells."""
        text = lookup('reading the storage pool capabilities', self.conn.getStoragePoolCapabilities, 0,
                      missing=(VIR_ERR_NO_SUPPORT,))
        root = xmlu.parse(text) if text else None
        found = root.find("pool[@type='%s']" % cls.type_name) if root is not None else None
        if found is not None and found.get('supported') == 'no':
            named = "xml: <pool type='%s'>" % cls.type_name if option == 'xml' else 'type %s' % cls.type_name
            raise UnsupportedError('%s: the libvirt daemon has no storage driver for %s pools (its pool capabilities '
                                   "say supported='no'), so it cannot define pool %s; %s"
                                   % (named, cls.type_name, self.name, cls.missing_driver_hint()))

    def _check_secret(self, backend, desired):
        """A pool whose auth names a secret that does not exist, or one of another usage than the auth type
        takes (the backend says which), is refused before anything is defined.

        In check mode a missing secret is assumed to come from an earlier task of the run: the return
        value is then the warning that says so (None otherwise)."""
        auth = xmlu.find_path(desired, 'source/auth')
        secret = xmlu.find_path(auth[0], 'secret') if auth else None
        if not secret:
            return
        auth_type = auth[0].get('type')
        wanted = backend.auth_secret_usage.get(auth_type)
        usage, uuid = secret[0].get('usage'), secret[0].get('uuid')
        option = 'xml' if self.params.get('xml') else ('secret_uuid' if uuid else 'secret_usage')
        named = ('xml: <secret %s=%r>' % ('uuid' if uuid else 'usage', uuid or usage) if option == 'xml'
                 else '%s %r' % (option, uuid or usage))
        if uuid:
            found = self._find_secret(option, named, self.conn.secretLookupByUUIDString, uuid)
            if found is None:
                return self._secret_missing(option, '%s: no libvirt secret with that uuid exists; define it first '
                                                    '(kvmops.storage.storage_secret)' % named)
            have = SECRET_USAGE_BY_NUMBER.get(call('reading the usage of secret %s' % uuid, found.usageType))
            if wanted is not None and have != wanted:
                raise ValidationError(option, '%s: that secret has usage %s, but auth_type %s authenticates with a '
                                              'secret of usage %s' % (named, have, auth_type, wanted))
            return
        if not usage:
            return
        if wanted is not None and self._find_secret(option, named, self.conn.secretLookupByUsage,
                                                    SECRET_USAGES[wanted][0], usage) is not None:
            return
        others = [s for s in call('listing secrets', self.conn.listAllSecrets, 0) if s.usageID() == usage]
        if wanted is None:
            if others:
                return
            return self._secret_missing(option, '%s: no libvirt secret with that usage id exists; define it first '
                                                '(kvmops.storage.storage_secret)' % named)
        hint = ''
        if others:
            hint = ' (secret %s has that usage id, but usage %s)' % (
                others[0].UUIDString(), SECRET_USAGE_BY_NUMBER.get(others[0].usageType()))
        else:
            return self._secret_missing(option, '%s: no libvirt secret of usage %s with that usage id exists; '
                                                'define it first (kvmops.storage.storage_secret usage=%s usage_id=%s)'
                                        % (named, wanted, wanted, usage))
        raise ValidationError(option, '%s: no libvirt secret of usage %s with that usage id exists%s; auth_type %s '
                                      'needs one - define it first (kvmops.storage.storage_secret usage=%s usage_id=%s)'
                              % (named, wanted, hint, auth_type, wanted, usage))

    def _secret_missing(self, option, msg):
        if not self.check_mode:
            raise ValidationError(option, msg)
        return '%s; check mode assumes that an earlier task of this run defines it' % msg

    @staticmethod
    def _find_secret(option, named, func, *args):
        try:
            return lookup('looking up the pool secret', func, *args, missing=(VIR_ERR_NO_SECRET,),
                          reraise=(VIR_ERR_INVALID_ARG,))
        except libvirt.libvirtError as exc:  # the uuid or usage id itself is refused
            raise ValidationError(option, '%s is not valid: %s' % (named, error_message(exc)))

    # ---- planning ------------------------------------------------------------
    def plan(self, live):
        plan = Plan()
        if self.state in ('absent', 'deleted'):
            if self.params.get('xml') or self.params.get('type'):
                self._desired(live)  # bad input is reported even when removing
            self._plan_removal(live, plan)
            return plan
        backend, desired = self._desired(live)
        assumed = self._check_secret(backend, desired)
        if assumed:
            plan.warnings.append(assumed)
        before = normalized(live.xml) if live is not None else None
        # extensions the daemon does not keep for this type cannot be compared (see canon.comparable_extensions)
        after = normalized(desired if live is None else
                           canon.comparable_extensions(desired, live.xml, backend.xml_namespaces))
        plan.diff = xmlu.render_diff(before, after, 'pool %s (live definition)' % self.name,
                                     'pool %s (desired definition)' % self.name)
        changed_paths = xmlu.differences(before, after) if before is not None else []
        restart = False
        rebuild = False
        if live is None or not live.persistent:
            plan.add('define', lambda: self._define(desired, plan.warnings),
                     undo=(self._undefine if live is None else None))
        elif changed_paths:
            running = live.active
            needs_restart = running and backend.needs_restart(changed_paths)
            on_change = self.params['on_change']
            if needs_restart and on_change == 'fail':
                raise RefusedError('pool %s is running and its definition would change (%s); on_change=fail '
                                   'leaves it alone' % (self.name, ', '.join(changed_paths)),
                                   changed_paths=changed_paths)
            old = live.xml
            plan.add('redefine', lambda: self._define(desired, plan.warnings), undo=lambda: self._define(old))
            if needs_restart and self.state != 'inactive':
                if on_change == 'restart':
                    restart = True
                else:
                    plan.warnings.append('pool %s keeps running with its previous definition until it is restarted '
                                         '(changed: %s)' % (self.name, ', '.join(changed_paths)))
            rebuild = self._needs_rebuild(backend, desired, changed_paths)

        missing = self._missing_while_running(plan, backend, desired, live)
        if missing and restart:
            rebuild = True
        if self.state == 'active' and (live is None or not live.active):
            if not self._plan_build(plan, backend, desired, live) and rebuild:
                plan.add('build', self._build)
            plan.add('start', self._start, undo=self._stop)
        elif missing and not restart:
            # libvirt builds only a stopped pool
            plan.add('stop', self._stop, undo=self._start)
            plan.add('build', self._build)
            plan.add('start', self._start)
        elif restart:
            self._refuse_restart_in_use(live, changed_paths)
            plan.add('restart_with_build' if rebuild else 'restart', lambda: self._restart(live.xml, rebuild))
        elif self.state == 'inactive' and live is not None and live.active:
            plan.add('stop', self._stop, undo=self._start)
            if rebuild:
                plan.add('build', self._build)
        elif rebuild and not live.active:
            plan.add('build', self._build)

        if backend.mounted_target and any(self.params.get(opt) is not None for opt in _PERMISSION_OPTIONS):
            self._plan_permissions(plan, backend, desired, live, changed_paths)

        autostart = self.params.get('autostart')
        if autostart is not None and (autostart if live is None else (not live.persistent or live.autostart != autostart)):
            plan.add('autostart' if autostart else 'no_autostart', lambda: self._set_autostart(autostart),
                     undo=(lambda: self._set_autostart(not autostart)) if live is not None else None)
        will_run = self.state == 'active' or (self.state == 'present' and live is not None and live.active)
        if self.params.get('refresh') and will_run and 'start' not in plan.actions and not restart:
            plan.add('refresh', lambda: call_retrying('refreshing pool %s' % self.name, self._pool().refresh, 0),
                     changes=False)
        if self.min_available is not None:
            self._check_available(live, will_run)
        return plan

    def _plan_build(self, plan, backend, desired, live):
        mode = self.params['build']
        if mode == 'never' or not backend.can('build'):
            return False
        probe = backend.probe(desired) if self.is_local else None
        if probe is None:
            wanted = live is None  # cannot look: build only what this task defines
            if wanted and mode == 'overwrite' and backend.overwrite_destroys:
                raise RefusedError(self._blind_overwrite_refusal(backend, desired))
        elif probe.state == MISSING:
            wanted = True
        elif probe.state == FOREIGN:
            if mode != 'overwrite':
                if backend.overwrite_destroys:
                    hint = ('correct the definition; only if that data may go, set build=overwrite, with which '
                            'libvirt %s' % backend.overwrite_destroys)
                else:
                    hint = 'correct the definition, or set build=overwrite to let libvirt overwrite it'
                raise RefusedError('pool %s was not built: %s. Nothing was changed; %s' % (self.name, probe.what, hint))
            wanted = True
        else:
            wanted = False
        if not wanted:
            return False
        flags = backend.build_flags[mode]
        undo = None
        if live is None and backend.can('delete') and probe is not None and probe.state == MISSING:
            undo = self._delete_storage
        # unprobed: libvirt's own check may find the storage built, which is what if_missing wants
        plan.add('build', lambda: self._build(flags, built_is_done=probe is None and mode != 'overwrite'), undo=undo)
        return True

    def _blind_overwrite_refusal(self, backend, desired):
        """Why an overwriting build cannot be allowed here: nothing tells whether the storage is built."""
        storage = backend.first_device(desired) or backend.xml_text(desired, 'source/name') or 'the storage'
        if not self.is_local:
            reason = ('uri %s reaches another host, and the module cannot look at its devices from here'
                      % self.params.get('uri'))
            instead = 'run the module on the hypervisor (uri qemu:///system there)'
        else:
            absent = [tool for tool in backend.probe_tools if shutil.which(tool) is None]
            if absent:
                reason = '%s %s not found on the host running the module' % (
                    ' and '.join(absent), 'is' if len(absent) == 1 else 'are')
                instead = 'install %s' % ' and '.join(absent)
            else:
                reason = 'the probe (%s) could not read it' % ', '.join(backend.probe_tools or ('none',))
                instead = 'check that %s exists and can be read' % storage
        return ('pool %s: build=overwrite refused: what %s holds cannot be read (%s), and with overwrite libvirt %s. '
                'Nothing was changed. To go on, %s, or use build=if_missing or build=no_overwrite, with which '
                'libvirt itself refuses storage that is already built'
                % (self.name, storage, reason, backend.overwrite_destroys, instead))

    def _missing_while_running(self, plan, backend, desired, live):
        """For a running pool whose type rebuilds safely: whether the local probe finds its storage gone
        (a directory removed behind libvirt's back); state=active repairs it, build=never refuses."""
        if live is None or not live.active or not backend.rebuild_when_missing or not self.is_local:
            return False
        if self.state not in ('active', 'present') or not backend.can('build'):
            return False
        probe = backend.probe(live.xml)  # what the running pool uses, not a target this task moves it to
        if probe is None or probe.state != MISSING:
            return False
        if self.state == 'present':
            plan.warnings.append('pool %s is running but %s: creating volumes in it fails until it is back '
                                 '(state=active stops the pool, builds it and starts it again)' % (self.name, probe.what))
            return False
        if self.params['build'] == 'never':
            raise RefusedError('pool %s is running but %s, and build=never leaves it so; set build=if_missing to '
                               'let the module stop the pool, build it and start it again' % (self.name, probe.what))
        return True

    def _plan_permissions(self, plan, backend, desired, live, changed_paths):
        """libvirt never sets the permissions of a mounted file system's root (the pool's target): the
        module sets them, on a pool that runs after the task, and refreshes the pool so libvirt reads them."""
        runs = self.state == 'active' or (self.state == 'present' and live is not None and live.active)
        if not runs:
            return
        starts = any(action == 'start' or action.startswith('restart') for action in plan.actions)
        if not self.is_local:
            if starts:
                plan.warnings.append('pool %s: target_mode, target_owner and target_group set the permissions of '
                                     'the mounted directory only when the module runs on the hypervisor; with uri '
                                     '%s they are only written into the definition' % (self.name, self.params.get('uri')))
            elif any(path.startswith('target/permissions') for path in changed_paths):
                raise RefusedError('pool %s: its mounted directory has other permissions than target_mode, '
                                   'target_owner and target_group say, and libvirt does not set them (it reads them '
                                   'back from the mounted file system). The module sets them only when it runs on the '
                                   'hypervisor: run it there (uri qemu:///system), or change them by hand' % self.name)
            return
        if starts or backend.target_permissions_differ(desired):
            plan.add('set_permissions', lambda: self._set_permissions(backend, desired))

    def _needs_rebuild(self, backend, desired, changed_paths):
        """Whether a changed definition must be applied to built storage by a plain build
        (libvirt sets the permissions of an existing directory only when building)."""
        rebuild_paths = backend.rebuild_paths()
        if not any(path == p or path.startswith(p + '/') for path in changed_paths for p in rebuild_paths):
            return False
        if not backend.can('build') or self.params.get('build') == 'never' or not self.is_local:
            return False
        probe = backend.probe(desired)
        return probe is not None and probe.state == BUILT

    def _plan_removal(self, live, plan):
        if live is None:
            return
        before = normalized(live.xml)
        plan.diff = xmlu.render_diff(before, None, 'pool %s (live definition)' % self.name, 'pool %s (removed)' % self.name)
        if self.state == 'deleted':
            backend = backend_class(live.type)({'name': self.name})
            if not backend.can('delete'):
                raise UnsupportedError('pool %s: libvirt cannot delete the storage of %s pools; use state=absent to '
                                       'undefine it and remove the storage by other means' % (self.name, live.type))
            volumes = self._volume_names(live, backend.ignored_volumes) if live.active else None
            if volumes is not None:
                # made while planning in the real run (see _volume_names); check mode only lists it
                plan.add('refresh', lambda: None, changes=False)
            force = self.params.get('force')
            if volumes and not force:
                shown = ', '.join(volumes[:10]) + (', ...' if len(volumes) > 10 else '')
                raise RefusedError('pool %s still holds %d volume(s): %s; set force=true to delete them with the pool'
                                   % (self.name, len(volumes), shown), volumes=volumes)
            if volumes is None and not force and not backend.delete_refuses_nonempty:
                raise RefusedError('pool %s is inactive, so its volumes cannot be listed before deleting it; start it '
                                   'first or set force=true' % self.name)
            if force:
                self._check_deleted_volume_users(live, plan, backend, volumes)
            for volume in volumes or ():
                plan.add('delete_volume:%s' % volume, lambda vol=volume: self._delete_volume(vol))
        if self.state == 'deleted' and not live.persistent:
            # a transient pool vanishes when stopped: make it persistent so its storage can be deleted
            plan.add('define', lambda: self._define(live.xml))
        if live.active:
            plan.add('stop', self._stop)
        if self.state == 'deleted':
            plan.add('delete', self._delete_storage)
        if live.persistent or self.state == 'deleted':
            plan.add('undefine', self._undefine)

    # ---- who uses the pool's volumes ----------------------------------------------------
    def _pool_users(self, live, backend, names=None):
        """[(DomainUse, [volume names or paths])] of the domains that use this pool's storage: its volumes
        (``names``, or all that libvirt lists when it runs), <source pool=> naming it, and for pools of image
        files any disk inside its target directory (listed or not)."""
        in_use, volumes, directories = self._pool_storage(live, backend, names)
        return in_use.pool_users(self.name, volumes, directories)

    def _pool_storage(self, live, backend, names=None):
        """(InUse of the host, field dicts of the pool's volumes named in ``names`` or of all it lists when it
        runs, its target directory in a list where it holds image files)."""
        volumes = []
        if live.active:
            for vol in call('listing the volumes of pool %s' % self.name, live.pool.listAllVolumes, 0):
                try:
                    fields = volume_fields(xmlu.parse(vol.XMLDesc(0)))
                except libvirt.libvirtError:
                    continue  # deleted meanwhile
                if names is None or fields['name'] in names:
                    volumes.append(fields)
        directories = []
        target = xmlu.find_path(live.xml, 'target/path')
        if target and target[0].text and backend.volume_format_in_xml and 'raw' in backend.volume_formats:
            directories.append(target[0].text.strip())
        return InUse(self.conn, self.is_local), volumes, directories

    def _check_deleted_volume_users(self, live, plan, backend, volumes):
        """state=deleted with force: volumes of stopped domains go (with a warning naming them), and so do the
        backing stores of overlays in other pools (a warning names those); volumes of running domains, and
        backing stores under an overlay a running domain uses, are refused unless force_in_use."""
        in_use, fields, directories = self._pool_storage(live, backend, set(volumes) if volumes is not None else None)
        users = in_use.pool_users(self.name, fields, directories)
        overlays = in_use.overlays_outside(self.name, fields)
        running = [(use, what) for use, what in users if use.running]
        stopped = [(use, what) for use, what in users if not use.running]
        running_overlays = [overlay for overlay in overlays if any(use.running for use in overlay.domains)]
        if (running or running_overlays) and not self.params.get('force_in_use'):
            blocks = []
            if running:
                blocks.append('running domain(s) use its storage: %s' % _uses(running))
            if running_overlays:
                blocks.append('running domain(s) use volume(s) of other pools whose backing store is in it: %s'
                              % describe_overlays(running_overlays))
            domains = set(use.name for use, _what in running)
            domains.update(use.name for overlay in running_overlays for use in overlay.domains if use.running)
            raise RefusedError('pool %s: %s; force=true does not delete the disks of running domains. Nothing was '
                               'changed; stop them first, or set force_in_use=true to delete the pool anyway'
                               % (self.name, '; '.join(blocks)), domains=sorted(domains))
        if running:
            plan.warnings.append('pool %s: deleting storage that running domain(s) use (force_in_use): %s'
                                 % (self.name, _uses(running)))
        if stopped:
            plan.warnings.append('pool %s: deleting storage that defined domain(s) use (they are not running): %s'
                                 % (self.name, _uses(stopped)))
        if overlays:
            plan.warnings.append('pool %s: deleting the backing store of volume(s) of other pools, which cannot be '
                                 'read without it: %s' % (self.name, describe_overlays(overlays)))

    def _refuse_restart_in_use(self, live, changed_paths):
        """A restart stops the pool (an unmount, an iSCSI logout, a deactivated volume group) under the domains
        running on its volumes: refused at plan time, so check mode says so too, unless force_in_use."""
        if self.params.get('force_in_use'):
            return
        backend = backend_class(live.type)({'name': self.name})
        running = [(use, what) for use, what in self._pool_users(live, backend) if use.running]
        if running:
            raise RefusedError('pool %s is running and its definition would change (%s), which needs a restart; '
                               'running domain(s) use its storage: %s. Nothing was changed; set '
                               'on_change=redefine_only to redefine it without a restart, stop those domains first, '
                               'or set force_in_use=true to restart it anyway'
                               % (self.name, ', '.join(changed_paths), _uses(running)),
                               domains=[use.name for use, _what in running], changed_paths=changed_paths)

    def _check_available(self, live, will_run):
        if live is None or not live.active or not will_run:
            return
        available = call('reading pool information', live.pool.info)[3]
        if available < self.min_available:
            raise RefusedError('pool %s has %s available, less than min_available=%s'
                               % (self.name, human_size(available), human_size(self.min_available)),
                               available=int(available))

    # ---- libvirt operations ----------------------------------------------------
    def _volume_names(self, live, ignored=()):
        """The volumes of a running pool.  The real run refreshes the pool first, so that a volume made
        outside libvirt is counted too; check mode does not, since libvirt stops a pool whose refresh
        fails (an NFS unmount, an iSCSI logout; a transient pool is gone)."""
        if not self.check_mode:
            call_retrying('refreshing pool %s' % self.name, live.pool.refresh, 0)
        names = call('listing the volumes of pool %s' % self.name, live.pool.listVolumes)
        return sorted(name for name in names if name not in ignored)

    def _delete_volume(self, name):
        volume = call('looking up volume %s' % name, self._pool().storageVolLookupByName, name)
        call_retrying('deleting volume %s' % name, volume.delete, 0)

    def _define(self, definition, warnings=None):
        pool = call('defining pool %s' % self.name, self.conn.storagePoolDefineXML,
                    xmlu.to_string(definition, pretty=False), 0)
        if warnings is not None:
            # say once, on the run that defines it, what of the document the daemon did not store
            stored = xmlu.parse(call('reading the pool definition', pool.XMLDesc, VIR_STORAGE_XML_INACTIVE))
            warnings.extend(canon.extension_problems(definition, stored, 'xml' if self.params.get('xml') else
                                                     'pool %s' % self.name))

    def _undefine(self):
        call_retrying('undefining pool %s' % self.name, self._pool().undefine)

    def _start(self):
        pool = self._pool()
        try:
            call('starting pool %s' % self.name, pool.create, 0)
        except OperationError as exc:
            self._explain_start_failure(pool, exc)
            raise

    def _explain_start_failure(self, pool, exc):
        """Add the backend's reading of a failed start to ``exc`` (libvirt's own text can mislead)."""
        try:
            definition = xmlu.parse(pool.XMLDesc(VIR_STORAGE_XML_INACTIVE))
        except libvirt.libvirtError:
            return
        backend = backend_class(definition.get('type'))({'name': self.name})
        hint = backend.start_failure_hint(definition, exc.msg, self.is_local)
        if hint:
            exc.reword('%s (%s)' % (exc.msg, hint))

    def _stop(self):
        call_retrying('stopping pool %s' % self.name, self._pool().destroy)

    def _set_autostart(self, value):
        call('setting autostart of pool %s' % self.name, self._pool().setAutostart, 1 if value else 0)

    def _delete_storage(self):
        call_retrying('deleting the storage of pool %s' % self.name, self._pool().delete, 0)

    def _build(self, flags=0, built_is_done=False):
        try:
            call('building pool %s' % self.name, self._pool().build, flags)
        except OperationError as exc:
            if not (built_is_done and exc.details.get('libvirt_code') == VIR_ERR_STORAGE_POOL_BUILT):
                raise

    def _set_permissions(self, backend, definition):
        path = xmlu.find_path(definition, 'target/path')
        try:
            backend.apply_target_permissions(definition)
        except (OSError, ValueError) as exc:
            raise OperationError('setting the permissions of %s (pool %s) failed: %s'
                                 % (path[0].text if path else 'the target', self.name, exc))
        # libvirt reads a mounted target's permissions back at a refresh
        call_retrying('refreshing pool %s' % self.name, self._pool().refresh, 0)

    def _restart(self, old_definition, rebuild=False):
        """Stop and start with the new definition; if it will not start, put the old one back and start that."""
        self._stop()
        try:
            if rebuild:
                self._build()
            self._start()
        except OperationError as exc:
            try:
                self._define(old_definition)
                self._start()
                restored = 'the previous definition was restored and the pool started again'
            except OperationError as again:
                restored = 'restoring the previous definition failed too: %s' % again.msg
            raise OperationError('%s; %s' % (exc.msg, restored))


def _uses(users):
    """``vm1 (running): a.qcow2, b.qcow2; vm2: c.raw`` for a message."""
    return '; '.join('%s: %s' % (describe_domains([use]), ', '.join(what)) for use, what in users)
