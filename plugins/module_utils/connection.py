# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open and close the libvirt connection; map libvirt errors to ours."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
import traceback

from ansible_collections.kvmops.storage.plugins.module_utils.xml import HAS_LXML, LXML_IMPORT_ERROR
from ansible_collections.kvmops.storage.plugins.module_utils.errors import (
    ConnectionFailedError,
    LibraryMissingError,
    OperationError,
)

try:
    import libvirt
    HAS_LIBVIRT = True
    LIBVIRT_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the managed host
    libvirt = None
    HAS_LIBVIRT = False
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()


# libvirt's numbers, as plain integers so that this module imports without the libvirt binding
# (tests/unit/test_connection.py checks each against the binding's VIR_* constant of that name).
# virErrorNumber
VIR_ERR_INTERNAL_ERROR = 1
VIR_ERR_NO_SUPPORT = 3         # the call is older than the daemon (or not in its driver)
VIR_ERR_INVALID_ARG = 8
VIR_ERR_XML_ERROR = 27
VIR_ERR_NO_STORAGE_POOL = 49
VIR_ERR_NO_STORAGE_VOL = 50
VIR_ERR_INVALID_SECRET = 65    # "secret is private": libvirt will not tell the value
VIR_ERR_NO_SECRET = 66         # no such secret, or it has no value
VIR_ERR_CONFIG_UNSUPPORTED = 67
VIR_ERR_STORAGE_POOL_BUILT = 76
# flags
VIR_STORAGE_XML_INACTIVE = 1
VIR_DOMAIN_XML_INACTIVE = 2
VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE = 2
VIR_STORAGE_POOL_BUILD_NEW = 0
VIR_STORAGE_POOL_BUILD_NO_OVERWRITE = 4
VIR_STORAGE_POOL_BUILD_OVERWRITE = 8
VIR_STORAGE_VOL_CREATE_PREALLOC_METADATA = 1
VIR_STORAGE_VOL_RESIZE_SHRINK = 4
VIR_STORAGE_VOL_DELETE_WITH_SNAPSHOTS = 2
VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM = 1
VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM = 1
VIR_STREAM_RECV_STOP_AT_HOLE = 1


INSTALL_HINT = {
    'libvirt': 'the libvirt Python binding: "apt install python3-libvirt" / "dnf install python3-libvirt", '
               'or "pip install libvirt-python" (needs the libvirt development headers)',
    'lxml': 'lxml: "apt install python3-lxml" / "dnf install python3-lxml", or "pip install lxml"',
}


def require_libraries():
    """Raise LibraryMissingError naming what to install on the managed host."""
    for name, present, trace in (('libvirt', HAS_LIBVIRT, LIBVIRT_IMPORT_ERROR),
                                 ('lxml', HAS_LXML, LXML_IMPORT_ERROR)):
        if not present:
            raise LibraryMissingError(
                'Python library "%s" is missing on the host running the module; install %s'
                % (name, INSTALL_HINT[name]), library=name, exception=trace)


def _silence_default_handler(ctx, err):
    """libvirt prints every error to stderr by default; errors reach us as exceptions."""


def error_code(exc):
    """libvirt error code of an exception (None for other exceptions)."""
    if libvirt is not None and isinstance(exc, libvirt.libvirtError):
        return exc.get_error_code()
    return None


def error_message(exc):
    if libvirt is not None and isinstance(exc, libvirt.libvirtError):
        return exc.get_error_message() or str(exc)
    return str(exc)


def is_libvirt_error(exc):
    return libvirt is not None and isinstance(exc, libvirt.libvirtError)


class Connection:
    """A context manager around one libvirt connection."""

    def __init__(self, uri):
        self.uri = uri
        self.conn = None

    def open(self):
        require_libraries()
        libvirt.registerErrorHandler(_silence_default_handler, None)
        try:
            self.conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise ConnectionFailedError(
                'cannot connect to libvirt at uri=%s: %s (is libvirtd running there, and may this user use it?)'
                % (self.uri, error_message(exc)), uri=self.uri)
        return self.conn

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except libvirt.libvirtError:  # pragma: no cover - closing a dead connection
                pass
            self.conn = None

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc_info):
        self.close()

    @property
    def is_local(self):
        """True when libvirtd manages this very host, so local probes are meaningful."""
        return is_local_uri(self.uri)


def is_local_uri(uri):
    """``qemu:///system`` is local; ``qemu+ssh://host/system`` is not."""
    if '://' not in uri:
        return True
    rest = uri.split('://', 1)[1]
    host = rest.split('/', 1)[0]
    return host in ('', 'localhost', '127.0.0.1', '[::1]')


def call(action, func, *args):
    """Run one libvirt call; a libvirtError becomes OperationError naming ``action``."""
    try:
        return func(*args)
    except Exception as exc:  # pylint: disable=broad-except
        if is_libvirt_error(exc):
            raise OperationError('%s failed: %s' % (action, error_message(exc)),
                                 libvirt_code=error_code(exc))
        raise


# the codes of libvirt's "no such object" answers to a lookup
NOT_FOUND = (VIR_ERR_NO_STORAGE_POOL, VIR_ERR_NO_STORAGE_VOL, VIR_ERR_NO_SECRET)


def lookup(action, func, *args, **options):
    """``call`` for a lookup: None when libvirt answers with one of the codes ``missing`` (default
    NOT_FOUND), the libvirt error itself for the codes ``reraise`` (the caller words those), an
    OperationError naming ``action`` for any other libvirt error."""
    missing = options.get('missing', NOT_FOUND)
    reraise = options.get('reraise', ())
    try:
        return func(*args)
    except Exception as exc:  # pylint: disable=broad-except
        if not is_libvirt_error(exc) or error_code(exc) in reraise:
            raise
        if error_code(exc) in missing:
            return None
        raise OperationError('%s failed: %s' % (action, error_message(exc)), libvirt_code=error_code(exc))


# libvirt refuses to refresh a pool (and to stop, delete or undefine it) while it creates or copies a
# volume in it, e.g. for another run or a `virsh vol-clone`: VIR_ERR_INTERNAL_ERROR with
# "pool 'NAME' has asynchronous jobs running."  Such a job ends by itself, so the call is tried again.
_BUSY_TEXT = 'asynchronous jobs running'
# seconds to wait before each new try: 1 + 8 tries over about a minute
BUSY_DELAYS = (0.5, 1, 2, 4, 8, 12, 16, 16)


def pool_busy(exc):
    """True for libvirt's "pool ... has asynchronous jobs running" refusal."""
    return error_code(exc) == VIR_ERR_INTERNAL_ERROR and _BUSY_TEXT in error_message(exc)


def call_retrying(action, func, *args, **options):
    """``call`` that waits and tries again while the pool is busy with another job (``pool_busy``).

    ``options``: ``delays`` (seconds before each new try, default BUSY_DELAYS) and ``sleep``.
    When the pool stays busy, the OperationError says how long it waited and what to do.
    """
    delays = options.get('delays', BUSY_DELAYS)
    sleep = options.get('sleep', time.sleep)
    waited = 0
    for delay in tuple(delays) + (None,):
        try:
            return func(*args)
        except Exception as exc:  # pylint: disable=broad-except
            if not is_libvirt_error(exc):
                raise
            if not pool_busy(exc):
                raise OperationError('%s failed: %s' % (action, error_message(exc)), libvirt_code=error_code(exc))
            if delay is None:
                raise OperationError('%s failed: %s; the pool was still busy with another job (a volume being '
                                     'created or copied, by another run or e.g. virsh vol-clone) after %d tries '
                                     'over %g s: run the task again when that job has ended'
                                     % (action, error_message(exc), len(delays) + 1, waited),
                                     libvirt_code=error_code(exc), pool_busy=True)
            sleep(delay)
            waited += delay
    raise AssertionError('unreachable')  # pragma: no cover


def connection_argument_spec():
    """Options every module takes."""
    return dict(uri=dict(type='str', default='qemu:///system'))
