#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: storage_pool
short_description: Manage libvirt storage pools of every type declaratively
version_added: 0.1.0
description:
  - Defines, builds, starts, stops, undefines and deletes libvirt storage pools of every type
    libvirt 9 knows - V(dir), V(fs), V(netfs), V(logical), V(disk), V(iscsi), V(iscsi-direct),
    V(scsi), V(mpath), V(rbd), V(gluster), V(zfs), V(vstorage).
  - Option names follow C(virsh pool-define-as), so the module works from ad-hoc commands with
    C(key=value) arguments.
  - The desired definition is compared with the live persistent definition (libvirt's inactive XML)
    after both are normalized; fields libvirt computes (uuid, capacity, allocation, available) never
    count as a change. A changed option is shown with C(--diff), redefined, and applied to a running
    pool as O(on_change) says.
  - An option left out means "leave it as it is". O(name) with O(state=inactive) only stops the pool
    and never rewrites its definition.
  - Nothing destroys data unless the task says so. O(state=absent) undefines and keeps the storage;
    O(state=deleted) deletes the storage and refuses a pool that still holds volumes unless O(force=true),
    and one whose volumes running domains use unless O(force_in_use=true) too.
  - A failure half-way rolls back the steps this task made (a pool it defined is undefined again) and
    never touches what existed before.
author:
  - kvmops.storage contributors (@kvmops)
extends_documentation_fragment:
  - kvmops.storage.connection
attributes:
  check_mode:
    support: full
    description:
      - Check mode reports the same C(changed), C(actions) and C(diff) as the real run, and changes nothing, not
        even a pool refresh (libvirt stops a pool whose refresh fails).
      - A secret that O(secret_usage) or O(secret_uuid) names and that does not exist is assumed to be defined by
        an earlier task of the same check run (M(kvmops.storage.storage_secret)); the task plans the pool and
        warns. The real run fails on a missing secret.
      - With O(state=deleted), a refresh that the real run makes before it lists the volumes is listed as a
        C(refresh) action in both modes (it changes nothing, so it does not make the task C(changed)).
  diff_mode:
    support: full
    description: Shows the normalized pool XML before and after.
  idempotent:
    support: full
    description: A second identical run reports C(changed=false) on every pool type.
options:
  name:
    description:
      - Name of the pool. It must not contain C(/) or a control character (libvirt refuses a newline and cannot
        carry a NUL), nor start with a blank.
    type: str
    required: true
  type:
    description:
      - The libvirt pool type. Required when the pool does not exist yet; when it exists, it must match
        (changing the type needs O(state=absent) first).
      - One of V(dir), V(fs), V(netfs), V(logical), V(disk), V(iscsi), V(iscsi-direct), V(scsi), V(mpath),
        V(rbd), V(gluster), V(zfs), V(vstorage).
      - V(sheepdog) was removed from libvirt in 8.8 and is refused with that reason.
      - A new pool of a type whose storage driver the libvirt daemon lacks (C(virsh pool-capabilities) says
        C(supported='no'), as Debian's libvirt does for V(vstorage)) is refused before anything is defined, in
        check mode too, with what to install. A pool of that type that is already defined can still be removed.
    type: str
  xml:
    description:
      - A complete C(<pool>) definition, the alternative to the typed options (mutually exclusive with them).
      - Its C(<name>) must equal O(name), and C(<pool>) needs a C(type) attribute. Elements it leaves out keep
        their live values, as with the typed options.
      - The document is read by libvirt's own parser first (the in-process C(test:///default) driver, which
        touches nothing on the host), so that what libvirt rewrites (C(//) and a trailing C(/) in paths,
        C(<owner>-1</owner>), a legacy C(<adapter name='host0'/>)) is compared in the form libvirt stores it and a
        second run reports no change. When the daemon runs the libvirt version of the module's host, a document
        that parser refuses is refused before anything is defined, with libvirt's reason.
      - Elements in an XML namespace (C(fs:mount_opts), C(rbd:config_opts)) are sent as given. The run that
        defines the pool warns, naming the element, when the daemon did not store one (libvirt 9's rbd backend
        drops C(rbd:config_opts)); such an element of a namespace the daemon does not keep is not compared, so
        later runs report no change.
    type: str
  target:
    description:
      - The C(<target><path>).
      - Defaults for new pools - V(/dev) for V(disk), V(/dev/disk/by-path) for V(iscsi) and V(scsi),
        V(/dev/mapper) for V(mpath).
      - Pool types that take it - V(dir), V(fs), V(netfs), V(logical), V(disk), V(iscsi), V(scsi), V(mpath),
        V(vstorage). A new pool of type V(dir), V(fs), V(netfs), V(vstorage) needs it.
    type: path
  target_mode:
    description:
      - Octal permissions of the target directory, for example V("0711") (quote it in YAML), from V("0000") to
        V("0777"); libvirt refuses setuid, setgid and sticky bits, and so does the module, before anything is
        defined. Written as libvirt prints it (V("0070") as C(070)), so a second run reports no change.
      - On a built V(dir) pool a change is applied to the directory by a build (libvirt only sets the
        permissions of an existing directory).
      - On V(fs) and V(netfs) pools the target is the root of the mounted file system, whose permissions libvirt
        reads back and never sets; the module sets O(target_mode), O(target_owner) and O(target_group) on the
        mounted directory itself (action C(set_permissions)), without a restart. It can do so only when it runs on
        the hypervisor; with a remote O(uri) a differing mode is refused.
      - Pool types that take it - V(dir), V(fs), V(netfs), V(vstorage).
    type: raw
  target_owner:
    description:
      - Owner of the target directory, a numeric uid or a user name known on the host running the module.
      - V(-1) leaves the owner as libvirt has it (libvirt does not store C(-1)).
      - Pool types that take it - V(dir), V(fs), V(netfs), V(vstorage).
    type: raw
  target_group:
    description:
      - Group of the target directory, a numeric gid or a group name known on the host running the module.
      - V(-1) leaves the group as libvirt has it.
      - Pool types that take it - V(dir), V(fs), V(netfs), V(vstorage).
    type: raw
  target_label:
    description:
      - Security (SELinux) label of the target directory.
      - Pool types that take it - V(dir), V(fs), V(netfs), V(vstorage).
    type: str
  source_host:
    description:
      - Hosts of the source; each is V(host) or V(host:port) (V([v6addr]:port) for IPv6).
      - The NFS/CIFS server (V(netfs), one host), the iSCSI portal (V(iscsi), V(iscsi-direct), one host),
        the Ceph monitors (V(rbd); libvirt speaks the monitors' v1 protocol, port 6789 when left out, not the v2
        port 3300), the Gluster server (V(gluster)).
      - Given, it replaces the whole list.
      - Pool types that take it - V(netfs), V(iscsi), V(iscsi-direct), V(rbd), V(gluster). A new pool of type
        V(netfs), V(iscsi), V(iscsi-direct), V(rbd), V(gluster) needs it.
    type: list
    elements: str
  source_path:
    description:
      - The exported directory (V(netfs)), or the directory inside the Gluster volume (V(gluster)).
      - Written as libvirt stores it - repeated C(/) collapsed, a trailing C(/) dropped (V(/export/vms/) is
        C(/export/vms)); C(.) and C(..) are kept as libvirt keeps them.
      - Pool types that take it - V(netfs), V(gluster). A new pool of type V(netfs) needs it.
    type: str
  source_dev:
    description:
      - Devices of the source. Given, it replaces the whole list.
      - The block device (V(fs), V(disk), one device), the physical volumes (V(logical)), the zpool vdevs (V(zfs)),
        or the target IQN (V(iscsi), V(iscsi-direct)).
      - Pool types that take it - V(fs), V(logical), V(disk), V(iscsi), V(iscsi-direct), V(zfs). A new pool of
        type V(fs), V(disk), V(iscsi), V(iscsi-direct) needs it.
    type: list
    elements: str
  source_name:
    description:
      - The LVM volume group (V(logical)), RADOS pool (V(rbd)), Gluster volume (V(gluster)), zpool (V(zfs)) or
        cluster name (V(vstorage)).
      - Pool types that take it - V(netfs), V(logical), V(rbd), V(gluster), V(zfs), V(vstorage). A new pool of
        type V(rbd), V(gluster), V(zfs), V(vstorage) needs it.
    type: str
  source_format:
    description:
      - V(fs) - the file system, one of V(auto), V(ext2), V(ext3), V(ext4), V(ufs), V(iso9660), V(udf), V(gfs),
        V(gfs2), V(vfat), V(hfs+), V(xfs), V(ocfs2), V(vmfs).
      - V(netfs) - V(auto), V(nfs), V(glusterfs), V(cifs).
      - V(disk) - the partition table, one of V(dos), V(dvh), V(gpt), V(mac), V(bsd), V(pc98), V(sun), V(lvm2).
      - V(logical) - V(lvm2).
      - Pool types that take it - V(fs), V(netfs), V(logical), V(disk).
    type: str
  source_initiator:
    description:
      - The initiator IQN (V(iscsi) optional, V(iscsi-direct) required).
      - Pool types that take it - V(iscsi), V(iscsi-direct). A new pool of type V(iscsi-direct) needs it.
    type: str
  source_adapter:
    description:
      - The SCSI host adapter of a V(scsi) pool, as the attributes of C(<adapter>).
      - Keys C(type) (V(scsi_host) or V(fc_host)), C(name), C(parent), C(parent_wwnn), C(parent_wwpn),
        C(parent_fabric_wwn), C(wwnn), C(wwpn), C(managed), and C(parentaddr) (C(<parentaddr>)).
      - A V(scsi_host) adapter is found by C(name) (V(host2)) or by C(parentaddr) - C(unique_id) (the number in
        C(/sys/class/scsi_host/hostN/unique_id)) and C(address), the PCI address of the controller (V(0000:00:05.0)
        as C(lspci -D) prints it and C(readlink /sys/class/scsi_host/hostN) shows it, or a dict of C(domain),
        C(bus), C(slot), C(function)). Host numbers are given out at boot in the order the controllers are found
        and may change when one is added or removed; the PCI address and unique id do not, so prefer
        C(parentaddr) for a pool that autostarts. An adapter without a PCI device (C(scsi_debug), LIO's
        C(tcm_loop)) has only its name.
      - Pool types that take it - V(scsi). A new pool of type V(scsi) needs it.
    type: dict
  auth_type:
    description:
      - Authentication of the source - V(ceph) for V(rbd), V(chap) for V(iscsi) and V(iscsi-direct).
      - Pool types that take it - V(iscsi), V(iscsi-direct), V(rbd).
    type: str
  auth_username:
    description:
      - The user name to authenticate as (for Ceph the client name without C(client.)).
      - Pool types that take it - V(iscsi), V(iscsi-direct), V(rbd).
    type: str
  secret_usage:
    description:
      - The usage id of the libvirt secret that holds the key or password (see M(kvmops.storage.storage_secret)).
        The secret must exist and be of the usage the auth type takes - V(ceph) for O(auth_type=ceph), V(iscsi)
        for O(auth_type=chap); otherwise the task is refused before anything is defined, naming the secret.
      - Mutually exclusive with O(secret_uuid).
      - Pool types that take it - V(iscsi), V(iscsi-direct), V(rbd).
    type: str
  secret_uuid:
    description:
      - The UUID of the libvirt secret that holds the key or password; checked as O(secret_usage) is.
      - 32 hex digits, with or without dashes, in either case; written lowercase with dashes as libvirt prints it.
        Anything else is refused before libvirt is asked.
      - Pool types that take it - V(iscsi), V(iscsi-direct), V(rbd).
    type: str
  mount_opts:
    description:
      - Extra mount options for V(netfs) and V(fs) pools (libvirt's C(fs:mount_opts)), for example V(nfsvers=4.2).
      - Given, it replaces the whole list.
      - Pool types that take it - V(fs), V(netfs).
    type: list
    elements: str
  state:
    description:
      - V(present) - defined; a running pool stays running, a stopped one stays stopped.
      - V(active) - defined, built as O(build) says, and started.
      - V(inactive) - defined and stopped.
      - V(absent) - stopped and undefined; the storage and the data on it are untouched.
      - V(deleted) - stopped, the underlying storage deleted (the directory, the volume group...), undefined.
        Refused while the pool holds volumes unless O(force=true), and refused for an inactive pool (whose
        volumes cannot be listed) unless the type's delete only removes an empty directory or O(force=true).
    type: str
    choices: [present, active, inactive, absent, deleted]
    default: active
  autostart:
    description: Whether libvirtd starts the pool when it starts. Left as it is when not given.
    type: bool
  build:
    description:
      - Whether to build the pool's storage (C(virsh pool-build)) before starting it, with O(state=active).
      - The collection first probes, on the host running the module, whether the storage is there (the
        directory, the file system, the partition table, the volume group). It builds only when the storage is
        missing. Storage holding something else (another file system or partition table) is refused unless
        V(overwrite).
      - V(never) - never build.
      - V(if_missing) - build when missing. V(fs) pools are built with libvirt's no-overwrite check (the only
        way libvirt makes a file system without overwriting); other types with libvirt's defaults.
      - V(no_overwrite) - build when missing, with libvirt's C(--no-overwrite) check.
      - V(overwrite) - build when missing or foreign, with libvirt's C(--overwrite); this destroys what the
        device holds.
      - With a remote O(uri) the probe cannot run; the pool is then built only when this task defines it, and
        V(overwrite) is refused for types whose build destroys data (V(fs), V(disk), V(logical)), as it is where
        the probe's tool (C(blkid), C(vgs), C(pvs), C(zpool)) is missing.
      - A V(disk) pool without O(source_format) (libvirt's C(unknown)) is built and started by libvirt as V(dos).
      - With O(state=active), a running V(dir) or V(netfs) pool whose directory is gone is stopped, built and
        started again (the probe runs on the host running the module).
    type: str
    choices: [never, if_missing, no_overwrite, overwrite]
    default: if_missing
  on_change:
    description:
      - What to do when the definition of a running pool changes in a way the pool only picks up when it restarts.
      - V(restart) - redefine, stop and start it. If it does not start with the new definition, the previous
        definition is restored and started again, and the task fails. A restart is refused, before anything
        changes (in check mode too), while a running domain uses the pool's storage (one of its volumes, a
        C(<source pool=>) naming it, or a disk inside the target directory of a pool of image files), since a stop is
        an unmount or an iSCSI logout under that domain. The refusal names the domains and volumes; use
        V(redefine_only), stop the domains, or set O(force_in_use=true).
      - V(redefine_only) - redefine only; the pool keeps running with the old definition until it is restarted
        (a warning says so).
      - V(fail) - change nothing and fail, listing what would change.
    type: str
    choices: [restart, redefine_only, fail]
    default: restart
  force:
    description:
      - With O(state=deleted), delete the pool's volumes (and their data) along with it.
      - Volumes that defined but stopped domains use are deleted too, with a warning naming each domain and
        volume. Volumes that running domains use are still refused (naming them) unless O(force_in_use=true).
      - Volumes of other pools whose backing chain reaches one of its volumes (qcow2 overlays) are left without
        their backing store, with a warning naming them; where a running domain uses such an overlay, the
        task is refused unless O(force_in_use=true).
    type: bool
    default: false
  force_in_use:
    description:
      - Go ahead although running domains use the pool's storage - with O(state=deleted) and O(force=true),
        delete their volumes too (a warning names them); with O(on_change=restart), restart the pool under them.
      - Alone it deletes nothing - O(state=deleted) on a pool that holds volumes still needs O(force=true).
    type: bool
    default: false
  refresh:
    description: Refresh the volume list of a running pool (C(virsh pool-refresh)). A refresh is listed in
      RV(actions) but does not count as a change.
    type: bool
    default: false
  min_available:
    description:
      - Fail when the running pool has less free space than this, for example V(20GiB).
      - Sizes follow libvirt - V(K), V(M), V(G), V(T) and V(KiB), V(MiB), V(GiB), V(TiB) are powers of 1024;
        V(KB), V(MB), V(GB), V(TB) are powers of 1000; a plain number is bytes.
    type: raw
notes:
  - What libvirt 9 can do per pool type (build, delete, volume create/delete/resize/wipe/upload) is in the
    collection's C(docs/pool_types.md).
  - The returned RV(pool) is read after the changes; in check mode it is the pool as it is now.
seealso:
  - name: libvirt storage pool XML format
    description: The XML the typed options map to.
    link: https://libvirt.org/formatstorage.html
'''

EXAMPLES = r'''
- name: A directory pool, started at boot
  kvmops.storage.storage_pool:
    name: images
    type: dir
    target: /var/lib/libvirt/images
    target_mode: "0711"
    autostart: true

- name: A file system on a block device, mounted by libvirt (makes ext4 when the device is blank)
  kvmops.storage.storage_pool:
    name: local-ext4
    type: fs
    source_dev: [/dev/sdb1]
    source_format: ext4
    target: /srv/vm-ext4

- name: An NFS export
  kvmops.storage.storage_pool:
    name: nfs-vms
    type: netfs
    source_host: [nfs1.example.com]
    source_path: /export/vms
    source_format: nfs
    mount_opts: [nfsvers=4.2, noatime]
    target: /var/lib/libvirt/nfs-vms

- name: An LVM volume group built from two disks
  kvmops.storage.storage_pool:
    name: vg_kvm
    type: logical
    source_name: vg_kvm
    source_dev: [/dev/sdc, /dev/sdd]
    build: no_overwrite

- name: A whole disk with a GPT label; partitions are the volumes
  kvmops.storage.storage_pool:
    name: disk-sde
    type: disk
    source_dev: [/dev/sde]
    source_format: gpt

- name: An iSCSI target through the kernel initiator, with CHAP
  kvmops.storage.storage_pool:
    name: san1
    type: iscsi
    source_host: ["san1.example.com:3260"]
    source_dev: [iqn.2026-11.com.example:storage.lun1]
    auth_type: chap
    auth_username: hypervisor1
    secret_usage: san1-chap

- name: The same target through libiscsi (no kernel initiator)
  kvmops.storage.storage_pool:
    name: san1-direct
    type: iscsi-direct
    source_host: [san1.example.com]
    source_dev: [iqn.2026-11.com.example:storage.lun1]
    source_initiator: iqn.2026-11.com.example:hypervisor1

- name: LUNs of a SCSI host adapter
  kvmops.storage.storage_pool:
    name: hba0
    type: scsi
    source_adapter: {type: scsi_host, name: host0}

- name: Multipath devices
  kvmops.storage.storage_pool:
    name: mpath
    type: mpath

- name: The key of client.libvirt (base64 text, as `ceph auth get-key client.libvirt` prints it)
  kvmops.storage.storage_secret:
    usage: ceph
    usage_id: client.libvirt secret
    value_base64: "{{ ceph_client_libvirt_key }}"

- name: A Ceph RBD pool on the RADOS pool vms, authenticating as client.libvirt (monitors on the v1 port 6789)
  kvmops.storage.storage_pool:
    name: ceph-vms
    type: rbd
    source_name: vms
    source_host: ["mon1.example.com:6789", "mon2.example.com:6789", "mon3.example.com:6789"]
    auth_type: ceph
    auth_username: libvirt
    secret_usage: client.libvirt secret

- name: A Gluster volume through libgfapi
  kvmops.storage.storage_pool:
    name: gluster-vms
    type: gluster
    source_host: [gluster1.example.com]
    source_name: vmvol
    source_path: /

- name: A ZFS pool
  kvmops.storage.storage_pool:
    name: tank
    type: zfs
    source_name: tank
    source_dev: [/dev/sdf]

- name: A Virtuozzo Storage cluster
  kvmops.storage.storage_pool:
    name: vz
    type: vstorage
    source_name: VZ7-CLUSTER
    target: /mnt/vstorage

- name: Stop a pool and leave its definition alone (ad-hoc - ansible hv1 -m kvmops.storage.storage_pool -a "name=images state=inactive")
  kvmops.storage.storage_pool:
    name: images
    state: inactive

- name: Change the NFS mount options, but do not restart a running pool
  kvmops.storage.storage_pool:
    name: nfs-vms
    mount_opts: [nfsvers=4.2, noatime, nodiratime]
    on_change: redefine_only

- name: A raw XML definition
  kvmops.storage.storage_pool:
    name: raw
    xml: |
      <pool type="dir">
        <name>raw</name>
        <target><path>/srv/raw</path></target>
      </pool>

- name: Remove the definition, keep the data
  kvmops.storage.storage_pool:
    name: images
    state: absent

- name: Delete the directory and every volume in it
  kvmops.storage.storage_pool:
    name: scratch
    state: deleted
    force: true

- name: Manage a remote hypervisor from the controller
  kvmops.storage.storage_pool:
    uri: qemu+ssh://root@hv2.example.com/system
    name: images
    type: dir
    target: /var/lib/libvirt/images
  delegate_to: localhost
'''

RETURN = r'''
actions:
  description:
    - The libvirt operations performed, in order; in check mode, the ones the real run would perform.
    - Among them C(define), C(redefine), C(build), C(start), C(restart), C(stop), C(autostart),
      C(no_autostart), C(refresh), C(set_permissions), C(delete_volume:NAME), C(delete), C(undefine).
  returned: always
  type: list
  elements: str
  sample: [define, build, start, autostart]
pool:
  description:
    - The pool as libvirt describes it after the task (in check mode, before it).
    - The same record as each pool of M(kvmops.storage.storage_facts), with C(xml) instead of C(volumes).
  returned: always
  type: dict
  contains:
    name:
      description: The pool name.
      type: str
      returned: always
      sample: images
    state:
      description: V(active), V(inactive), V(building), V(degraded), V(inaccessible), or V(absent) when there is no such pool.
      type: str
      returned: always
      sample: active
    uuid:
      description: The pool UUID.
      type: str
      returned: when the pool exists
    type:
      description: The pool type.
      type: str
      returned: when the pool exists
      sample: dir
    active:
      description: Whether the pool is running.
      type: bool
      returned: when the pool exists
    autostart:
      description: Whether libvirtd starts the pool at boot.
      type: bool
      returned: when the pool exists
    persistent:
      description: Whether the pool has a persistent definition.
      type: bool
      returned: when the pool exists
    autostart_not_running:
      description: True when the pool starts at boot (O(autostart)) but is not running now.
      type: bool
      returned: when the pool exists
    capacity:
      description: Size of the pool in bytes (0 when inactive).
      type: int
      returned: when the pool exists
      sample: 107374182400
    allocation:
      description: Bytes in use.
      type: int
      returned: when the pool exists
    available:
      description: Bytes free.
      type: int
      returned: when the pool exists
    usage_percent:
      description: C(allocation) as a percentage of C(capacity), one decimal; null when the capacity is 0.
      type: float
      returned: when the pool exists
      sample: 20.0
    provisioned:
      description:
        - The sum of the capacities of the pool's volumes, in bytes.
        - Always null here - this module does not read the volumes; M(kvmops.storage.storage_facts) with
          O(kvmops.storage.storage_facts#module:gather=volumes) gives it.
      type: int
      returned: when the pool exists
    overcommit_ratio:
      description: C(provisioned) divided by C(capacity), three decimals; null here, as C(provisioned).
      type: float
      returned: when the pool exists
    thin_provisioned:
      description:
        - Whether volumes of this pool type take space as data is written (V(dir), V(fs), V(netfs), V(rbd),
          V(gluster), V(vstorage)), so their capacities may add up to more than the pool holds.
        - False for the types that allocate a volume in full when it is made (V(logical) and V(zfs) unless
          the volume asks for less, V(disk), and the LUNs of V(iscsi), V(iscsi-direct), V(scsi), V(mpath)).
      type: bool
      returned: when the pool exists
    target:
      description:
        - The target - C(path) (null when the definition has none) and C(permissions) (C(mode), C(owner),
          C(group), C(label) as the definition gives them, or null).
        - Earlier releases returned the path alone here, and the permissions as C(target_permissions).
      type: dict
      returned: when the pool exists
      sample: {path: /var/lib/libvirt/images, permissions: {mode: "0711", owner: "0", group: "0"}}
    source:
      description: The source - C(hosts), C(devices), C(dir), C(adapter), C(name), C(format), C(initiator),
        C(auth) (type, username, usage or uuid of the secret; never a secret value), C(mount_opts), as far as they
        are set. Each is the value of the typed option that writes it (C(hosts) is O(source_host), C(mount_opts)
        is O(mount_opts)).
      type: dict
      returned: when the pool exists
    xml:
      description:
        - The normalized persistent definition.
        - Not in the pool records of M(kvmops.storage.storage_facts); every other key is the same there.
      type: str
      returned: when the pool exists
diff:
  description: The normalized definition before and after, with C(--diff).
  returned: when diff mode is on and the task has a definition to compare
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.storage.plugins.module_utils.connection import connection_argument_spec
from ansible_collections.kvmops.storage.plugins.module_utils.engine import run_module
from ansible_collections.kvmops.storage.plugins.module_utils.pool import (
    MUTUALLY_EXCLUSIVE,
    PoolManager,
    pool_argument_spec,
)


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(pool_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, mutually_exclusive=MUTUALLY_EXCLUSIVE,
                           supports_check_mode=True)
    run_module(module, PoolManager)


if __name__ == '__main__':
    main()
