# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The facts manager: reads pools, volumes, secrets and capabilities; changes nothing.

Speed matters on pools with thousands of volumes: each volume costs one
libvirt call (its XML holds capacity, allocation, format and backing store;
``info()`` is never called), the calls run in a few threads over the one
connection (libvirt-python releases the GIL while it waits for libvirtd, and
the client pipelines the requests) while this thread parses the answers, and
the domains that use volumes are read once for all pools.  Those threads are
daemon threads with a deadline (deadline.py): storage that does not answer
costs a warning, never a task that hangs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import traceback

from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
from ansible_collections.kvmops.storage.plugins.module_utils.deadline import NoAnswer, Runner
from ansible_collections.kvmops.storage.plugins.module_utils.discovery import (
    discover,
    discover_option_spec,
    parse_discover,
)
from ansible_collections.kvmops.storage.plugins.module_utils.connection import (
    VIR_ERR_NO_STORAGE_VOL,
    call,
    error_code,
    error_message,
    is_libvirt_error,
)
from ansible_collections.kvmops.storage.plugins.module_utils.engine import ReadOnlyManager
from ansible_collections.kvmops.storage.plugins.module_utils.errors import (
    LibraryMissingError,
    OperationError,
    ValidationError,
)
from ansible_collections.kvmops.storage.plugins.module_utils.inuse import InUse
from ansible_collections.kvmops.storage.plugins.module_utils.live import (
    POOL_STATES,
    directory_problem,
    image_directory,
)
from ansible_collections.kvmops.storage.plugins.module_utils.records import (
    add_provisioned,
    pool_record,
    secret_record,
    volume_record,
)

GATHER = ('pools', 'volumes', 'secrets', 'capabilities')

# volumes per batch handed to a worker thread, and the number of threads
_BATCH = 100
_THREADS = 8
# pools read at once (their definitions, states, storage probes and refreshes)
_POOL_THREADS = 4
# seconds a pool may take to answer (the ``timeout`` option)
DEFAULT_TIMEOUT = 30
# volumes whose XML is read to see that a pool's storage answers (libvirt reads their storage again)
_PROBE_VOLUMES = 3


def facts_argument_spec():
    """The module's options that are not connection options."""
    return dict(
        gather=dict(type='list', elements='str', default=['pools'], choices=list(GATHER)),
        pools=dict(type='list', elements='str'),
        query=dict(type='str'),
        refresh=dict(type='bool', default=False),
        timeout=dict(type='float', default=DEFAULT_TIMEOUT),
        discover=discover_option_spec(),
    )


def _timeout(value):
    """The ``timeout`` option in seconds: a positive number."""
    if value is None:
        return float(DEFAULT_TIMEOUT)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = None
    if seconds is None or math.isnan(seconds) or math.isinf(seconds) or seconds <= 0:
        raise ValidationError('timeout', 'timeout: %r is not a positive number of seconds (the time a pool may take '
                              'to answer, e.g. 30)' % (value,))
    return seconds


def _jmespath():
    """The jmespath library, imported when a task has a ``query``."""
    try:
        import jmespath
    except ImportError:
        raise LibraryMissingError('query needs the Python library "jmespath" on the host running the module; '
                                  'install it: "apt install python3-jmespath" or "pip install jmespath"',
                                  library='jmespath', exception=traceback.format_exc())
    return jmespath


def compile_query(expression):
    """A compiled JMESPath expression; errors name the ``query`` option."""
    jmespath = _jmespath()
    try:
        compiled = jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise ValidationError('query', 'query %r is not a valid JMESPath expression: %s'
                              % (expression, _one_line(exc)))
    return compiled


def run_query(compiled, facts):
    """Run a compiled JMESPath expression (compile_query) over ``facts``; errors name the ``query`` option."""
    try:
        return compiled.search(facts)
    except _jmespath().exceptions.JMESPathError as exc:
        raise ValidationError('query', 'query %r failed on the facts: %s' % (compiled.expression, _one_line(exc)))


def _one_line(exc):
    return ' '.join(str(exc).split())


def parse_capabilities(text, backends=None):
    """Per pool type: what libvirt reports (getStoragePoolCapabilities) and what this collection can do.

    ``{TYPE: {supported, pool: {default_format, formats}, volume: {default_format, formats},
    operations: {build: bool, volume_create: bool, ...}}}``; ``operations`` is None for a type
    libvirt knows and this collection does not manage.  Types the collection knows and libvirt
    does not report are listed with ``supported: false``.
    """
    if backends is None:
        # imported here: only gather=capabilities needs the pool backends
        from ansible_collections.kvmops.storage.plugins.module_utils.backends import BACKENDS as backends
    result = {}
    root = xmlu.parse(text) if text else None
    for pool in (root.iterfind('pool') if root is not None else ()):
        type_name = pool.get('type')
        entry = {'supported': pool.get('supported') == 'yes'}
        for key, options, enum in (('pool', 'poolOptions', 'sourceFormatType'),
                                   ('volume', 'volOptions', 'targetFormatType')):
            found = pool.find(options)
            if found is None:
                entry[key] = None
                continue
            default = found.find('defaultFormat')
            values = found.find("enum[@name='%s']" % enum)
            entry[key] = {
                'default_format': default.get('type') if default is not None else None,
                'formats': [value.text for value in values.iterfind('value')] if values is not None else [],
            }
        entry['operations'] = _operations(backends.get(type_name))
        result[type_name] = entry
    for type_name, cls in backends.items():
        if type_name not in result:
            result[type_name] = {'supported': False, 'pool': None, 'volume': None, 'operations': _operations(cls)}
    return result


def _operations(cls):
    if cls is None:
        return None
    from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import CAPABILITIES
    return dict((capability, capability in cls.capabilities) for capability in CAPABILITIES)


def secret_facts(secret):
    """The record of one libvirt secret (records.secret_record; never its value)."""
    return secret_record(xmlu.parse(secret.XMLDesc(0)), secret.UUIDString())


def pool_facts(pool, root, info):
    """The record of one pool (records.pool_record) from its live XML and ``info()``, with ``volumes`` empty:
    volumes_read fills them in, and the figures that need them."""
    persistent = bool(pool.isPersistent())
    facts = pool_record(root, info, pool.isActive(), persistent, pool.autostart() if persistent else False)
    facts['volumes'] = {}
    return facts


def volumes_read(facts, volumes):
    """The volumes of a pool, read (a dict of volume_facts by name), set into its facts: ``provisioned`` and
    ``overcommit_ratio`` are known from them (None while the volumes are not read)."""
    facts['volumes'] = volumes
    return add_provisioned(facts, volumes.values())


def volume_facts(root, pool_name, domains):
    """The record of one volume (records.volume_record) from its parsed XML, plus ``used_by``: ``domains``
    is an inuse.InUse (or None)."""
    facts = volume_record(root, pool_name)
    facts['used_by'] = [use.name for use in domains.domains_of(pool_name, facts)] if domains is not None else []
    return facts


def _parse_batch(documents, parser):
    """The parsed volume documents of a batch: one parse of all of them wrapped in one element (half
    the cost of parsing each alone); each alone if that fails (a document with an XML declaration)."""
    if not documents:
        return []
    try:
        return list(xmlu.etree.fromstring('<volumes>%s</volumes>' % ''.join(documents), parser))
    except xmlu.etree.XMLSyntaxError:
        return [xmlu.etree.fromstring(text.encode('utf-8'), parser) for text in documents]


def _fetch(job, volumes):
    """XMLDesc of each volume of a batch (run in a worker thread): a list of XML text or exceptions."""
    found = []
    for vol in volumes:
        job.step('reading the XML of its volumes')
        try:
            found.append(vol.XMLDesc(0))
        except Exception as exc:  # pylint: disable=broad-except
            found.append(exc)
    return found


def _backend_class(type_name):
    # imported here: only a refresh or the volumes need the pool backends
    from ansible_collections.kvmops.storage.plugins.module_utils.backends import BACKENDS
    return BACKENDS.get(type_name)


class _Answered:
    """A pool whose isActive(), isPersistent() and autostart() were read in its job: pool_facts asks them of
    this, not of libvirt, which would make it wait for a call of the job left behind on storage that does not
    answer."""

    def __init__(self, pool, active, persistent, autostart):
        self._pool = pool
        self._active = active
        self._persistent = persistent
        self._autostart = autostart

    def isActive(self):  # pylint: disable=invalid-name
        return self._active

    def isPersistent(self):  # pylint: disable=invalid-name
        return self._persistent

    def autostart(self):
        return self._autostart

    def __getattr__(self, name):
        return getattr(self._pool, name)


class FactsManager(ReadOnlyManager):
    """Gathers ``ansible_facts.libvirt_storage``; read-only, so check mode is the real run.

    Never harms, never hangs.  libvirt stops a pool whose refresh fails (``storagePoolRefresh``: the
    backend's stopPool unmounts a netfs or fs pool, logs out of an iSCSI target, deactivates a volume
    group), so a pool is refreshed only after its storage answered a probe that cannot stop it
    (``_probe``); where no such probe exists it is not refreshed, with a warning.  Each pool is read in a
    daemon thread (deadline.Runner) that must answer within ``timeout`` seconds; one that does not is
    left behind with a warning naming the pool, and the other pools are read all the same.
    """

    def __init__(self, conn, params, is_local=True):
        self.conn = conn
        self.is_local = is_local
        gather = list(params.get('gather') or ['pools'])
        unknown = [item for item in gather if item not in GATHER]
        if unknown:
            raise ValidationError('gather', 'gather: %s not known; accepted: %s'
                                  % (', '.join(repr(item) for item in unknown), ', '.join(GATHER)))
        self.gather = set(gather)
        if 'volumes' in self.gather:
            self.gather.add('pools')  # volumes are listed inside their pools
        self.pool_names = params.get('pools')
        self.refresh = bool(params.get('refresh'))
        self.timeout = _timeout(params.get('timeout'))
        self.discover = parse_discover(params.get('discover'))
        self.query = params.get('query')
        if self.query is not None and not self.query.strip():
            raise ValidationError('query', 'query is empty; give a JMESPath expression such as "pools.*.name"')
        # compiled now: a bad expression fails before libvirt is asked anything
        self._compiled = compile_query(self.query) if self.query is not None else None
        self.runner = Runner(self.timeout)
        self.warnings = []
        self._domains = None

    # ---- the module's result ---------------------------------------------------
    def run(self, check_mode=False):  # pylint: disable=unused-argument
        facts = self.facts()
        result = {'changed': False, 'ansible_facts': {'libvirt_storage': facts}}
        if self._compiled is not None:
            result['query_result'] = run_query(self._compiled, facts)
        if self.warnings:
            result['warnings'] = list(self.warnings)
        return result

    def facts(self):
        facts = {}
        if 'pools' in self.gather:
            facts['pools'] = self.pools()
        if 'secrets' in self.gather:
            facts['secrets'] = self.secrets()
        if 'capabilities' in self.gather:
            facts['capabilities'] = self.capabilities()
        if self.discover is not None:
            facts['discovered'] = self.discovered()
        return facts

    def _answer(self, action, func, *args):
        """A libvirt call that must answer within the timeout: OperationError naming ``action`` when
        libvirt fails it, NoAnswer when it does not answer."""
        return self.runner.call(action, call, action, func, *args)

    # ---- pools and volumes -----------------------------------------------------------
    def pools(self):
        try:
            listed = self._answer('listing storage pools', self.conn.listAllStoragePools, 0)
        except NoAnswer:
            raise OperationError('libvirt did not list the storage pools within timeout=%g s: libvirtd is busy, or a '
                                 'call it makes waits on storage that does not answer (a pool whose NFS server is '
                                 'gone, mounted hard, holds up every call on that pool until the server is back)'
                                 % self.timeout)
        by_name = {}
        for pool in listed:
            try:
                by_name[pool.name()] = pool
            except Exception as exc:  # pylint: disable=broad-except
                if not is_libvirt_error(exc):
                    raise
        names = sorted(by_name)
        if self.pool_names is not None:
            missing = [name for name in self.pool_names if name not in by_name]
            if missing:
                self.warnings.append('pools: no storage pool named %s on this host; pools here: %s'
                                     % (', '.join(missing), ', '.join(names) or 'none'))
            wanted = set(self.pool_names)
            names = [name for name in names if name in wanted]
        # every pool's definition, state, storage probe and refresh first, a few at a time; then the volumes
        readers = [self._reader(name, by_name[name]) for name in names]
        jobs = list(self.runner.run(readers, _POOL_THREADS, stage='waiting for an earlier pool'))
        result = {}
        for name, job in zip(names, jobs):
            facts = self._pool(name, by_name[name], job)
            if facts is not None:
                result[name] = facts
                if facts['autostart_not_running']:
                    self.warnings.append('pool %s has autostart set but is not running (state %s): libvirtd did '
                                         'not start it, or it was stopped since' % (name, facts['state']))
        return result

    def _reader(self, name, pool):
        return lambda job: self._read_pool(job, name, pool)

    def _read_pool(self, job, name, pool):
        """In the pool's job: its definition and state, then (for an active pool whose refresh or volumes
        are asked for) a probe of its storage and the refresh.  What it reads is kept in ``job.data``."""
        data = job.data
        job.step('reading its definition')
        data['root'] = xmlu.parse(pool.XMLDesc(0))
        job.step('reading its state')
        data['info'] = pool.info()
        data['active'] = bool(pool.isActive())
        data['persistent'] = bool(pool.isPersistent())
        data['autostart'] = bool(pool.autostart()) if data['persistent'] else False
        if POOL_STATES.get(data['info'][0]) != 'active' or not (self.refresh or 'volumes' in self.gather):
            return
        data['problem'], data['not_refreshed'] = self._probe(job, name, pool, data['root'])
        if self.refresh and data['not_refreshed'] is None:
            self._refresh(job, name, pool)

    def _probe(self, job, name, pool, root):
        """(what is wrong with the pool's storage, or None; why it is not refreshed, or None).

        Only probes that cannot stop the pool: where the module runs on the hypervisor, the pool's
        directory as a refresh reads it (live.directory_problem), else the backend's probe of its storage
        (a volume group, a zpool, a partition table); otherwise the XML of a few of its volumes, for the
        types whose volumes libvirt reads from their storage when asked (the local file types, rbd)."""
        type_name = root.get('type')
        cls = _backend_class(type_name)
        if cls is None:
            return None, 'this collection does not know pools of type %s' % type_name
        backend = cls({'name': name})
        directory = image_directory(root, backend, self.is_local)
        if directory is not None:
            job.step('looking at its directory %s' % directory)
            problem = directory_problem(directory)
            return problem, problem
        if self.is_local and self.refresh:
            # (reading the volumes alone needs no such probe: libvirt reads no storage of these types for it)
            job.step('probing its storage')
            found = backend.probe(root)
            if found is not None:
                from ansible_collections.kvmops.storage.plugins.module_utils.backends.base import BUILT
                if found.state != BUILT:
                    return found.what, found.what
                return None, None
        if not backend.volume_read_probes_storage:
            if not self.refresh:
                return None, None
            return None, ('libvirt stops a pool whose refresh fails, and the module cannot check first that the '
                          'storage of %s pools answers%s' % (type_name, '' if self.is_local else
                                                             ' from where it runs'))
        job.step('listing its volumes')
        volumes = pool.listAllVolumes(0)
        job.data['listed'] = volumes
        if not volumes:
            return None, ('libvirt stops a pool whose refresh fails, and the pool lists no volume whose reading '
                          'would show first that its storage answers')
        failed = None
        for vol in volumes[:_PROBE_VOLUMES]:
            job.step('reading the XML of volume %s' % vol.name())
            try:
                vol.XMLDesc(0)
                return None, None
            except Exception as exc:  # pylint: disable=broad-except
                if not is_libvirt_error(exc):
                    raise
                failed = 'reading volume %s failed: %s' % (vol.name(), error_message(exc))
        return failed, failed

    def _refresh(self, job, name, pool):
        """Refresh a pool (in its job); a failure is kept for a warning naming it (its volumes are then not read)."""
        job.step('refreshing it')
        job.data.pop('listed', None)  # the refresh may change the volumes
        try:
            call('refreshing pool %s' % name, pool.refresh, 0)
            job.data['refreshed'] = True
        except OperationError as exc:
            job.data['refresh_failed'] = exc.msg
        job.step('reading its state after the refresh')
        job.data['info'] = pool.info()  # libvirt stops a pool whose refresh fails

    def _pool(self, name, pool, job):
        data = job.data
        if job.error is not None:
            if not is_libvirt_error(job.error):
                raise job.error
            self.warnings.append('pool %s could not be read: %s' % (name, error_message(job.error)))
            return None
        if 'autostart' not in data:  # left behind before its definition and state were read
            self.warnings.append('pool %s did not answer within timeout=%g s (%s): it is left out'
                                 % (name, self.timeout, self._stuck_stage(job)))
            return None
        facts = pool_facts(_Answered(pool, data['active'], data['persistent'], data['autostart']), data['root'],
                           data['info'])
        if job.left_behind or job.skipped:
            unread = ', its volumes are not read' if 'volumes' in self.gather else ''
            self.warnings.append('pool %s: its storage did not answer within timeout=%g s (%s): the figures are '
                                 'libvirt\'s from before%s' % (name, self.timeout, self._stuck_stage(job), unread))
            return facts
        read_volumes = 'volumes' in self.gather and facts['state'] == 'active'
        if data.get('refresh_failed'):
            self.warnings.append('pool %s: %s%s' % (name, data['refresh_failed'], '' if facts['state'] == 'active'
                                                    else '; libvirt stopped the pool'))
            read_volumes = False
        elif data.get('problem'):
            self.warnings.append('pool %s: %s: %s' % (
                name, data['problem'], ', '.join(
                    what for what, asked in (('not refreshed (libvirt would stop the pool)', self.refresh),
                                             ('its volumes are not read', read_volumes)) if asked)))
            read_volumes = False
        elif self.refresh and data.get('not_refreshed') and facts['state'] == 'active':
            self.warnings.append('pool %s is not refreshed: %s; its figures are those of libvirt\'s last refresh'
                                 % (name, data['not_refreshed']))
        if read_volumes:
            try:
                volumes_read(facts, self._volumes(name, pool, data.get('listed')))
            except OperationError as exc:
                self.warnings.append('pool %s: its volumes could not be read: %s' % (name, exc.msg))
            except NoAnswer as exc:
                self.warnings.append('pool %s: its volumes did not answer within timeout=%g s (%s): they are left out'
                                     % (name, self.timeout, exc.stage))
        return facts

    def _stuck_stage(self, job):
        if job.skipped:
            return 'not asked: %d calls to libvirt had not answered' % self.runner.stuck
        return job.stage

    def _volumes(self, name, pool, listed=None):
        volumes = listed if listed is not None else self._answer('listing the volumes of pool %s' % name,
                                                                 pool.listAllVolumes, 0)
        if self._domains is None:
            self._domains = InUse(self.conn, self.is_local)
        result = {}
        parser = xmlu.etree.XMLParser(resolve_entities=False)
        batches = [volumes[start:start + _BATCH] for start in range(0, len(volumes), _BATCH)]
        jobs = self.runner.run([self._batch(batch) for batch in batches], _THREADS, stage='reading its volumes')
        try:
            for job in jobs:
                if job.left_behind or job.skipped:
                    raise NoAnswer(self._stuck_stage(job), self.timeout)
                self._add_volumes(result, name, job.get(), parser)
        finally:
            jobs.close()  # after a failure: no further batch starts
        return dict(sorted(result.items()))

    @staticmethod
    def _batch(batch):
        return lambda job: _fetch(job, batch)

    def _add_volumes(self, result, pool_name, texts, parser):
        documents = []
        for text in texts:
            if isinstance(text, Exception):
                if error_code(text) == VIR_ERR_NO_STORAGE_VOL:
                    continue  # deleted since the pool was listed
                if is_libvirt_error(text):
                    raise OperationError('reading a volume of pool %s failed: %s' % (pool_name, error_message(text)))
                raise text
            documents.append(text)
        for root in _parse_batch(documents, parser):
            facts = volume_facts(root, pool_name, self._domains)
            result[facts['name']] = facts

    # ---- pool sources ------------------------------------------------------------------
    def discovered(self):
        try:
            return discover(self.conn, self.discover, self._answer)
        except NoAnswer as exc:
            raise OperationError('discover: %s: libvirt did not answer within timeout=%g s (the server it asks does '
                                 'not answer, or answers slowly: raise timeout)' % (exc.stage, self.timeout))

    # ---- secrets and capabilities ---------------------------------------------------
    def secrets(self):
        found = []
        for secret in call('listing secrets', self.conn.listAllSecrets, 0):
            try:
                found.append(secret_facts(secret))
            except Exception as exc:  # pylint: disable=broad-except
                if not is_libvirt_error(exc):
                    raise
                # undefined meanwhile
        return sorted(found, key=lambda item: (item['usage'], item['usage_id'] or '', item['uuid']))

    def capabilities(self):
        try:
            text = self.conn.getStoragePoolCapabilities(0)
        except Exception as exc:  # pylint: disable=broad-except
            if not is_libvirt_error(exc):
                raise
            self.warnings.append('libvirt did not report its storage pool capabilities: %s' % error_message(exc))
            text = None
        return parse_capabilities(text)
