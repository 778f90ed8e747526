#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: storage_secret
short_description: Manage libvirt secrets (Ceph keys, iSCSI CHAP passwords, volume passphrases) declaratively
version_added: 0.1.0
description:
  - Defines, changes and undefines libvirt secrets and sets their values, for example the Ceph key an
    V(rbd) pool authenticates with or the CHAP password of an V(iscsi) or V(iscsi-direct) pool
    (see M(kvmops.storage.storage_pool) options O(kvmops.storage.storage_pool#module:secret_usage) and
    O(kvmops.storage.storage_pool#module:secret_uuid)).
  - A secret is found by O(uuid) when it is given, otherwise by O(usage) and O(usage_id); libvirt allows one
    secret per usage.
  - The definition (description, usage, private, ephemeral) is compared with the live one; an option left out
    means "leave it as it is". libvirt changes the description, O(ephemeral) and O(private=true) in place. It
    cannot turn O(private) off or change the usage of an existing secret; the module then undefines the secret,
    defines it again with the same uuid and sets the value again (the task's value, or the old one read back).
    A private secret's value cannot be read back, so such a change of a private secret needs O(value) or
    O(value_base64), and is refused without.
  - The value never appears in the result, the diff, a warning or an error message, including libvirt's
    messages, in any form (as given, base64, hex).
author:
  - kvmops.storage contributors (@kvmops)
extends_documentation_fragment:
  - kvmops.storage.connection
attributes:
  check_mode:
    support: full
    description: Check mode reports the same C(changed), C(actions) and C(diff) as the real run, and changes nothing.
  diff_mode:
    support: full
    description:
      - "Shows the secret definition before and after, and a comment line saying whether the secret has a value
        and whether the task changes it (C(<!-- value: (changed) -->)); never the value."
  idempotent:
    support: partial
    description:
      - A second identical run reports C(changed=false), except for a private secret with a value and
        O(value_update=always) (the value cannot be read back, so it is set and reported as changed on
        every run); use O(value_update=on_create) there.
options:
  uuid:
    description:
      - The UUID of the secret. Given, the secret is found by it (and a new secret gets it); left out, the
        secret is found by O(usage) and O(usage_id), and libvirt picks the UUID of a new one.
    type: str
  usage:
    description:
      - What the secret is for, the C(type) of its C(<usage>) element.
      - V(ceph) - a Ceph cephx key for V(rbd) pools; V(iscsi) - a CHAP password for V(iscsi) and V(iscsi-direct)
        pools; V(volume) - the passphrase of an encrypted (LUKS) volume; V(tls) - the passphrase of a TLS key;
        V(vtpm) - the passphrase of a vTPM's state; V(none) - no usage (such a secret can only be found by O(uuid)).
      - Left out, a new secret gets V(none) and an existing one keeps its usage.
    type: str
    choices: [none, volume, ceph, iscsi, tls, vtpm]
  usage_id:
    description:
      - The usage id, required with every O(usage) but V(none) - the C(<volume>) path for V(volume), the
        C(<target>) for V(iscsi), the C(<name>) for V(ceph), V(tls) and V(vtpm).
      - A pool refers to the secret by it with O(kvmops.storage.storage_pool#module:secret_usage).
    type: str
  description:
    description: A human-readable description. An empty string removes it.
    type: str
  private:
    description:
      - Whether libvirt keeps the value from every caller (C(virsh secret-get-value) included). libvirt still
        hands it to the pools and domains that use the secret.
      - The value of a private secret cannot be read back, so it cannot be compared; see O(value_update).
      - Turning V(private) off, or changing the usage, of a private secret undefines and defines it again, so it
        needs O(value) or O(value_base64). Should defining it again fail, the old definition is put back with the
        value the task gives (the old value cannot be read), never without a value.
      - Left out, a new secret is not private and an existing one keeps its setting.
    type: bool
  ephemeral:
    description:
      - Whether libvirt keeps the secret in memory only (it is gone when libvirtd restarts).
      - Left out, a new secret is not ephemeral and an existing one keeps its setting.
    type: bool
  value:
    description:
      - The value, stored as the UTF-8 bytes of this text, exactly as given (no newline is added or removed).
        Use it for passwords such as an iSCSI CHAP secret.
      - For a Ceph key use O(value_base64) instead - the key that C(ceph auth get-key) prints is base64 text
        and libvirt must store the decoded bytes, or the V(rbd) pool will not authenticate. The module warns when
        the O(value) of a V(ceph) secret looks like such a key.
      - Mutually exclusive with O(value_base64). Left out, the value is left as it is.
    type: str
  value_base64:
    description:
      - The value as base64 text; the decoded bytes are stored (as C(virsh secret-set-value --base64) does).
        Blanks and line breaks are ignored.
      - The right option for Ceph keys, and for binary values.
    type: str
  value_update:
    description:
      - When the value given in O(value) or O(value_base64) is set.
      - V(always) - a secret that is not private has its value read back and set when it differs (reported as a
        change only then); a private secret's value cannot be read, so it is set on every run and the task
        reports C(changed) every time.
      - V(on_create) - set only when the task defines the secret (or has to define it again); an existing
        secret's value is left as it is. Use it for private secrets when a second run must report no change.
    type: str
    choices: [always, on_create]
    default: always
  state:
    description:
      - V(present) - the secret is defined as the task says, with its value.
      - V(absent) - the secret is undefined (its value is gone with it). Refused, naming them, while a defined pool
        (active or not) authenticates with it or a domain's disk names it (C(<auth>) or C(<encryption>) secret, a
        vTPM's encryption), unless O(force=true).
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=absent), undefine the secret even though pools or domains use it; they can no longer start
        or authenticate, and a private value cannot be recovered. A warning names them.
    type: bool
    default: false
  xml:
    description:
      - A complete C(<secret>) definition, the alternative to O(usage), O(usage_id), O(description),
        O(private) and O(ephemeral) (mutually exclusive with them). Unlike those options it describes the whole
        definition - what it leaves out takes libvirt's default. Its C(<uuid>), if any, must equal O(uuid).
      - The value is still given with O(value) or O(value_base64).
    type: str
notes:
  - libvirt refuses an empty value, and so does this module.
  - A secret a running pool uses may be changed; the pool reads the new value the next time it starts.
seealso:
  - module: kvmops.storage.storage_pool
  - name: libvirt secret XML format
    description: The C(<secret>) definition.
    link: https://libvirt.org/formatsecret.html
'''

EXAMPLES = r'''
- name: The Ceph key of client.libvirt, for rbd pools
  kvmops.storage.storage_secret:
    usage: ceph
    usage_id: client.libvirt secret
    description: Ceph client.libvirt key
    value_base64: "{{ ceph_client_libvirt_key }}"   # as printed by: ceph auth get-key client.libvirt
    private: true
    value_update: on_create

- name: An rbd pool that authenticates with it
  kvmops.storage.storage_pool:
    name: ceph-vms
    type: rbd
    source_host: [mon1.example.com, mon2.example.com]
    source_name: vms
    auth_type: ceph
    auth_username: libvirt
    secret_usage: client.libvirt secret

- name: The CHAP password of an iSCSI target
  kvmops.storage.storage_secret:
    usage: iscsi
    usage_id: iqn.2026-11.com.example:san1
    value: "{{ san1_chap_password }}"

- name: A secret with a fixed UUID (what domain XML often refers to)
  kvmops.storage.storage_secret:
    uuid: 0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01
    usage: volume
    usage_id: /var/lib/libvirt/images/vault.luks
    value: "{{ vault_passphrase }}"

- name: Gone
  kvmops.storage.storage_secret:
    usage: iscsi
    usage_id: iqn.2026-11.com.example:san1
    state: absent
'''

RETURN = r'''
actions:
  description:
    - The libvirt operations performed, or planned in check mode - V(define), V(redefine), V(set_value),
      V(undefine) (V(undefine), V(define), V(set_value) when libvirt cannot change the definition in place).
  returned: always
  type: list
  elements: str
  sample: [define, set_value]
secret:
  description:
    - The secret as libvirt describes it after the task (before it, in check mode); never its value.
    - The same record as each secret of M(kvmops.storage.storage_facts), plus C(value_set) and C(xml).
  returned: always
  type: dict
  contains:
    state:
      description: V(present) or V(absent).
      type: str
      returned: always
      sample: present
    uuid:
      description: The UUID.
      type: str
      returned: when the secret exists or O(uuid) was given
      sample: 0d4f7c2a-8a1e-4c55-9d2b-5f3e1a7b9c01
    usage:
      description: The usage type.
      type: str
      returned: when the secret exists or O(usage) was given
      sample: ceph
    usage_id:
      description: The usage id (null for usage V(none)).
      type: str
      returned: when the secret exists or O(usage_id) was given
      sample: client.libvirt secret
    description:
      description: The description (null when it has none).
      type: str
      returned: when the secret exists
    private:
      description: Whether the value is hidden from every caller.
      type: bool
      returned: when the secret exists
    ephemeral:
      description: Whether the secret lives in memory only.
      type: bool
      returned: when the secret exists
    value_set:
      description:
        - Whether the secret has a value. Null for a private secret whose value this run did not set -
          libvirt does not tell whether a private secret has a value.
      type: bool
      returned: when the secret exists
    xml:
      description: The definition, normalized.
      type: str
      returned: when the secret exists
diff:
  description:
    - "The definition before and after, with C(--diff), each followed by a comment line such as
      C(<!-- value: (set) -->) that says whether there is a value and whether the task sets it; never the value."
  returned: when diff mode is on and the task has something to compare
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.storage.plugins.module_utils.connection import connection_argument_spec
from ansible_collections.kvmops.storage.plugins.module_utils.engine import run_module
from ansible_collections.kvmops.storage.plugins.module_utils.secret import (
    MUTUALLY_EXCLUSIVE,
    SecretManager,
    secret_argument_spec,
)


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(secret_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, mutually_exclusive=MUTUALLY_EXCLUSIVE,
                           supports_check_mode=True)
    run_module(module, SecretManager)


if __name__ == '__main__':
    main()
