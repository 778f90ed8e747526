# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One exception hierarchy for the collection.

Every failure the engine, a manager or a backend can report is a
StorageError.  Modules turn it into ``fail_json`` in one place
(``module.run_module``), so messages stay consistent and no secret value
can slip into a traceback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class StorageError(Exception):
    """Base class: ``msg`` is for people, ``details`` go into the result."""

    def __init__(self, msg, **details):
        super(StorageError, self).__init__(msg)
        self.msg = msg
        self.details = details

    def reword(self, msg):
        """Replace the message (``str()`` of the exception follows it)."""
        self.msg = msg
        self.args = (msg,)


class LibraryMissingError(StorageError):
    """A Python library the module needs is not importable on the managed host."""


class ConnectionFailedError(StorageError):
    """libvirtd could not be reached with the given URI."""


class ValidationError(StorageError):
    """Bad input: the message names the option and what it accepts."""

    def __init__(self, option, msg, **details):
        super(ValidationError, self).__init__(msg, option=option, **details)
        self.option = option


class UnsupportedError(StorageError):
    """The pool type cannot do what was asked; nothing was changed."""


class RefusedError(StorageError):
    """A data-destroying step was refused because the task did not allow it."""


class OperationError(StorageError):
    """A libvirt operation failed while the plan was being applied."""
