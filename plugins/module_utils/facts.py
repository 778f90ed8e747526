# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The facts manager: reads pools, volumes, secrets and capabilities; changes nothing.

Speed matters on pools with thousands of volumes: each volume costs one
libvirt call (its XML holds capacity, allocation, format and backing store;
``info()`` is never called), the calls run in a few threads over the one
connection (libvirt-python releases the GIL while it waits for libvirtd, and
the client pipelines the requests) while this thread parses the answers, and
the domains that use volumes are read once for all pools.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.kvmops.storage.plugins.module_utils import xml as xmlu
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
from ansible_collections.kvmops.storage.plugins.module_utils.live import POOL_STATES
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


def facts_argument_spec():
    """The module's options that are not connection options."""
    return dict(
        gather=dict(type='list', elements='str', default=['pools'], choices=list(GATHER)),
        pools=dict(type='list', elements='str'),
        query=dict(type='str'),
        refresh=dict(type='bool', default=False),
    )


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


def _fetch(volumes):
    """XMLDesc of each volume of a batch (run in a worker thread): a list of XML text or exceptions."""
    found = []
    for vol in volumes:
        try:
            found.append(vol.XMLDesc(0))
        except Exception as exc:  # pylint: disable=broad-except
            found.append(exc)
    return found


class FactsManager(ReadOnlyManager):
    """Gathers ``ansible_facts.libvirt_storage``; read-only, so check mode is the real run."""

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
        self.query = params.get('query')
        if self.query is not None and not self.query.strip():
            raise ValidationError('query', 'query is empty; give a JMESPath expression such as "pools.*.name"')
        # compiled now: a bad expression fails before libvirt is asked anything
        self._compiled = compile_query(self.query) if self.query is not None else None
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
        return facts

    # ---- pools and volumes -----------------------------------------------------------
    def pools(self):
        listed = call('listing storage pools', self.conn.listAllStoragePools, 0)
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
        result = {}
        for name in names:
            facts = self._pool(name, by_name[name])
            if facts is not None:
                result[name] = facts
                if facts['autostart_not_running']:
                    self.warnings.append('pool %s has autostart set but is not running (state %s): libvirtd did '
                                         'not start it, or it was stopped since' % (name, facts['state']))
        return result

    def _pool(self, name, pool):
        refresh_failed = False
        try:
            root = xmlu.parse(pool.XMLDesc(0))
            info = pool.info()
            if self.refresh and POOL_STATES.get(info[0]) == 'active':
                # before the figures are taken: a refresh measures the pool's allocation again
                refresh_failed = not self._refresh(name, pool)
                info = pool.info()  # libvirt stops a pool whose refresh fails
            facts = pool_facts(pool, root, info)
        except Exception as exc:  # pylint: disable=broad-except
            if not is_libvirt_error(exc):
                raise
            self.warnings.append('pool %s could not be read: %s' % (name, error_message(exc)))
            return None
        if 'volumes' in self.gather and facts['state'] == 'active' and not refresh_failed:
            try:
                volumes_read(facts, self._volumes(name, pool))
            except OperationError as exc:
                self.warnings.append('pool %s: its volumes could not be read: %s' % (name, exc.msg))
        return facts

    def _refresh(self, name, pool):
        """Refresh a pool; a failure is a warning naming it (its volumes are then not read)."""
        try:
            call('refreshing pool %s' % name, pool.refresh, 0)
        except OperationError as exc:
            self.warnings.append('pool %s: %s' % (name, exc.msg))
            return False
        return True

    def _volumes(self, name, pool):
        volumes = call('listing the volumes of pool %s' % name, pool.listAllVolumes, 0)
        if self._domains is None:
            self._domains = InUse(self.conn, self.is_local)
        result = {}
        parser = xmlu.etree.XMLParser(resolve_entities=False)
        batches = [volumes[start:start + _BATCH] for start in range(0, len(volumes), _BATCH)]
        if len(batches) > 1:
            with ThreadPoolExecutor(min(_THREADS, len(batches))) as executor:
                for texts in executor.map(_fetch, batches):
                    self._add_volumes(result, name, texts, parser)
        elif batches:
            self._add_volumes(result, name, _fetch(batches[0]), parser)
        return dict(sorted(result.items()))

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
