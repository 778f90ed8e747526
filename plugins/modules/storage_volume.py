#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kvmops.storage contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: storage_volume
short_description: Manage libvirt storage volumes, one or a thousand per task
version_added: 0.1.0
description:
  - Creates, clones, uploads, grows, shrinks, wipes and deletes the volumes of a libvirt storage pool.
  - Option names follow C(virsh vol-create-as), so the module works from ad-hoc commands with C(key=value) arguments.
  - One task handles one volume (O(name)) or many (O(volumes)) over one connection and one listing of the pool;
    a no-op run over a thousand volumes takes about a second.
  - A volume that exists is compared with the task. O(capacity) above the live capacity grows it in place.
    A capacity within the rounding of the pool type (LVM extents, partition alignment, qcow2
    clusters) is no change, so a second run never reports drift. RBD images keep the size asked for to the byte.
    The extent size of a V(logical) pool's volume group is read with C(vgs) when the module runs on the
    hypervisor; with a remote O(uri) it is bounded from the sizes libvirt reports (the volume group's size and
    free space and the volume's size, which are all whole extents).
  - Nothing destroys data unless the task says so. Shrinking needs O(allow_shrink=true). Deleting, wiping or
    shrinking a volume that a defined domain uses (running or not), or that a volume of any active pool of the
    host has in its backing chain, needs O(force=true); the refusal names the domains, and the overlays with
    their pools.
  - A domain uses a volume when one of its disks names it by path (compared resolved when the module runs on the
    hypervisor, so a symlinked directory, a C(/dev/disk/by-*) or C(/dev/mapper) name, or another device node of the
    same block device counts), by C(<source pool= volume=>), or by RBD image name (C(pool/image)).
  - An operation the pool type cannot do (for example resizing on V(logical), V(disk), V(iscsi)) is refused
    before anything changes, naming the pool type.
  - A failure half-way deletes the volume the task was creating (a failed or mismatched upload included);
    volumes completed earlier in the same task stay.
  - The pool must be active.
  - Where the bytes are - the module runs where libvirt is reached from, and a path or URL of O(content) is read on
    that host. Run on the hypervisor, O(content.src) is a hypervisor file and O(content.url) is fetched by the
    hypervisor. With C(delegate_to) V(localhost) and O(uri=qemu+ssh://root@hv1/system) the module runs on the
    controller, so O(content.src) is a controller file and O(content.url) is fetched by the controller, and libvirt
    carries the bytes over its connection to the hypervisor; nothing is copied to the hypervisor first.
  - In an V(rbd) pool, O(clone_from) makes a copy-on-write clone through a protected snapshot of the source
    (libvirt names it C(libvirt-NUMBER)). O(state=absent) deletes an image together with those snapshots only; an
    image with other snapshots (backups made with C(rbd snap create)) is refused naming them, unless O(force=true).
    The snapshots are listed with the C(rbd) command (package ceph-common) or else the python rbd binding
    (python3-rbd) on the host running the module, with the pool's monitors, user and key (the value of its
    secret). Where they cannot be listed (neither is installed, or the secret is private) the image is deleted
    without its snapshots, so librbd refuses it if it has any, and a warning says so. The source of a clone can be
    deleted only after its clones.
  - libvirt streams no bytes into or out of an RBD image, so for V(rbd) pools the module moves them with the C(rbd)
    command (package ceph-common) on the host running the module, reaching the pool's monitors as its user with the
    key of its secret (through a file only that user can read, removed after). An import (O(content)) and a copy
    from another pool (O(clone_from)) write a new image with C(rbd import-diff) - only the blocks that are not all
    zeros, so an image of holes takes no objects - and an export (O(export)), O(clone_from.verify) and
    O(content.compare) read it with C(rbd export). Without the command such a task is refused before anything
    is changed.
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
      - A volume that libvirt does not list yet is known only after a pool refresh. When the module runs on the
        hypervisor and the pool holds image files in a directory, the refresh is made only if a file of that
        name is there; otherwise (a remote O(uri), block and network pools) whenever a named volume is not
        listed. The real run makes it before planning; both modes list it as a C(refresh) action, which does not
        make the task C(changed). A refused refresh while the pool is busy (another run, or C(virsh vol-clone),
        is creating or copying a volume in it) is tried again for about a minute.
      - A pool that does not exist, or is not active, is assumed to be defined and started by an earlier task of
        the same check run (M(kvmops.storage.storage_pool)); the task predicts each volume as new (its diff shows
        the predicted volume) and warns. The real run fails on a missing or inactive pool. When the pool is
        missing its type is unknown, so whether the real run also refreshes it first is not predicted.
      - It reads O(content.src) to verify O(content.checksum), as the real run does before it uploads.
      - With O(content.url) it requests the URL and reads its first bytes (up to 1 MiB) to learn the image's format
        and size, as the real run does before it creates anything; the body is fetched whole and checked against
        O(content.checksum) only by the real run, so a wrong checksum or a broken transfer is found by the real
        run alone (which then deletes the volume it made).
      - With O(content.compare) it reads the volume back to compare it, as the real run does.
  diff_mode:
    support: full
    description: Shows each changed volume's format, capacity, backing store and permissions before and after.
  idempotent:
    support: full
    description: A second identical run reports C(changed=false) on every pool type.
options:
  pool:
    description: Name of the storage pool that holds the volumes. It must exist and be active.
    type: str
    required: true
  name:
    description:
      - Name of the volume. It must not contain C(/) or a control character (C(\n), C(\t), NUL...), nor
        start with a blank; V(.) and V(..) are refused (they name the pool's directory and its parent).
      - Exactly one of O(name) and O(volumes) is required.
      - For V(disk) pools libvirt names partitions after the device (C(sdb1)); for V(logical) pools it is the LV name.
    type: str
  volumes:
    description:
      - Many volumes in one task. Each item takes the per-volume options of this module (O(name) is required in each).
      - An option given at the top level (beside O(volumes)) is the default of every item that does not give it.
        A default that an option of the item excludes is not inherited - an item with O(volumes[].xml) takes
        no top-level O(format) or O(capacity), an item's O(volumes[].preallocation) replaces a top-level
        O(allocation), an item's O(volumes[].clone_from) a top-level O(content) - so only options given
        together at one level conflict.
      - Each item is checked as a single volume is, and its errors name it, for example
        C(volumes[2].xml and volumes[2].format cannot be given together). O(xml) cannot be given at the top level
        with O(volumes); O(wipe) at the top level needs an item with O(state=absent).
      - Each volume is reported in RV(volumes) with its own C(changed) and C(actions).
      - When one item fails, its own steps are rolled back, the items done before it stay, and the task fails
        naming what was done.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the volume.
        type: str
        required: true
      xml:
        description: Same as O(xml).
        type: str
      capacity:
        description: Same as O(capacity).
        type: raw
      allocation:
        description: Same as O(allocation).
        type: raw
      preallocation:
        description: Same as O(preallocation).
        type: str
        choices: ['off', metadata, falloc, full]
      format:
        description: Same as O(format).
        type: str
      encryption:
        description: Same as O(encryption).
        type: dict
        suboptions:
          format:
            description: Same as O(encryption.format).
            type: str
            choices: [luks]
          secret_uuid:
            description: Same as O(encryption.secret_uuid).
            type: str
          secret_usage:
            description: Same as O(encryption.secret_usage).
            type: str
      backing_store:
        description: Same as O(backing_store).
        type: dict
        suboptions:
          path:
            description: Same as O(backing_store.path).
            type: str
            required: true
          format:
            description: Same as O(backing_store.format).
            type: str
      clone_from:
        description: Same as O(clone_from).
        type: dict
        suboptions:
          name:
            description: Same as O(clone_from.name).
            type: str
            required: true
          pool:
            description: Same as O(clone_from.pool).
            type: str
          verify:
            description: Same as O(clone_from.verify).
            type: bool
          move:
            description: Same as O(clone_from.move).
            type: bool
      content:
        description: Same as O(content).
        type: dict
        suboptions:
          src:
            description: Same as O(content.src).
            type: path
          url:
            description: Same as O(content.url).
            type: str
          checksum:
            description: Same as O(content.checksum).
            type: str
          timeout:
            description: Same as O(content.timeout).
            type: float
          validate_certs:
            description: Same as O(content.validate_certs).
            type: bool
          ca_path:
            description: Same as O(content.ca_path).
            type: path
          url_username:
            description: Same as O(content.url_username).
            type: str
          url_password:
            description: Same as O(content.url_password).
            type: str
          force:
            description: Same as O(content.force).
            type: bool
          compare:
            description: Same as O(content.compare).
            type: bool
          convert:
            description: Same as O(content.convert).
            type: bool
          tmpdir:
            description: Same as O(content.tmpdir).
            type: path
      mode:
        description: Same as O(mode).
        type: raw
      owner:
        description: Same as O(owner).
        type: raw
      group:
        description: Same as O(group).
        type: raw
      state:
        description: Same as O(state).
        type: str
        choices: [present, absent]
      wipe:
        description: Same as O(wipe).
        type: str
        choices: [zero, nnsa, dod, bsi, gutmann, schneier, pfitzner7, pfitzner33, random, trim]
      allow_shrink:
        description: Same as O(allow_shrink).
        type: bool
      force:
        description: Same as O(force).
        type: bool
      export:
        description: Same as O(export); each item names its own file.
        type: dict
        suboptions:
          dest:
            description: Same as O(export.dest).
            type: path
            required: true
          format:
            description: Same as O(export.format).
            type: str
            choices: [raw, qcow2]
          compress:
            description: Same as O(export.compress).
            type: str
            choices: [gzip, bzip2, xz, zstd]
          checksum:
            description: Same as O(export.checksum).
            type: str
            choices: [blake2b, blake2s, md5, sha1, sha224, sha256, sha384, sha3_224, sha3_256, sha3_384, sha3_512, sha512]
          force:
            description: Same as O(export.force).
            type: bool
          force_in_use:
            description: Same as O(export.force_in_use).
            type: bool
  xml:
    description:
      - A whole libvirt volume XML document, instead of the typed options (mutually exclusive with them).
        Sizes in it are read as libvirt reads them (there C(unit='mb') is 10**6 bytes).
      - Its C(<name>) must equal O(name). It is used as it is to create the volume; for a volume that exists,
        its C(<capacity>) and C(<target><format>) are compared as O(capacity) and O(format) are, read by
        libvirt's own parser (the in-process C(test:///default) driver) for the pool's type. When the daemon runs
        the libvirt version of the module's host, a document that parser refuses is refused before anything is
        created.
      - C(<capacity>0</capacity>) is taken as libvirt takes it (a qcow2 image of the smallest size) and is not
        a resize target later. A volume made as V(iso) is a plain file that libvirt reads back as V(raw) after a
        refresh; that is not a format change.
    type: str
  capacity:
    description:
      - Size of the volume. A number of bytes, or a number with a unit in libvirt's convention -
        C(K)/C(KiB), C(M)/C(MiB), C(G)/C(GiB), C(T)/C(TiB), C(P)/C(PiB), C(E)/C(EiB) are powers of 1024,
        C(KB), C(MB), C(GB), C(TB), C(PB), C(EB) powers of 1000, C(b)/C(bytes) bytes;
        for example V(40G), V(40GiB), V(1.5 TB), V(42949672960).
      - The prefix letter takes either case (V(40g), V(40kB)). Refused as ambiguous - a number without a unit
        that is not a whole number of bytes (V(1.5), where V(1.5G) was meant); a unit ending in a lowercase C(b)
        after a prefix (V(10 Mb), V(40gb), V(1Gib) - bits or bytes?); a lone lowercase C(p) or C(e). A fraction
        of a byte left by a size with a unit (V(1.1G)) is dropped.
      - Required to create a volume, unless O(clone_from), O(content) or O(backing_store) gives the size.
      - For a volume that exists, a larger capacity grows it in place (where the pool type can resize);
        a smaller one is refused unless O(allow_shrink=true).
    type: raw
  allocation:
    description:
      - How much to allocate when the volume is created, in the units of O(capacity). Ignored for a volume that exists.
      - Image files (V(dir), V(fs), V(netfs), V(gluster), V(vstorage) pools) are sparse by default (allocation 0);
        block pools allocate the whole capacity by default (a smaller allocation makes libvirt create a thin LV
        on V(logical) pools).
    type: raw
  preallocation:
    description:
      - Preallocation of a new volume, instead of O(allocation).
      - V(off) allocates nothing; V(metadata) preallocates qcow2 metadata only; V(falloc) and V(full) allocate the
        whole capacity (libvirt uses fallocate where the file system has it and writes zeroes where not).
    type: str
    choices: ['off', metadata, falloc, full]
  format:
    description:
      - Format of a new volume. For image-file pools V(raw) (the default), V(qcow2), V(qed), V(vmdk), V(vpc), V(vdi);
        for V(disk) pools the partition type, V(none) (the default), V(linux), V(fat16), V(fat32), V(linux-swap),
        V(linux-lvm), V(linux-raid), V(extended); V(raw) for V(logical), V(rbd) and V(zfs) pools.
      - With O(backing_store) the default is V(qcow2). With O(clone_from) the default is the source's format.
        With O(content) on an image-file pool the format is the image's, read from its header (after
        decompression); a format given that differs from the image's converts it (O(content.convert)).
      - A volume that exists with another format is refused; a volume that exists is not converted.
    type: str
  backing_store:
    description:
      - Create the volume as an overlay on a base image (a qcow2 volume with a backing file), or as an LVM snapshot
        on V(logical) pools.
      - Set only when the volume is created; a volume that exists with another backing store is refused.
    type: dict
    suboptions:
      path:
        description:
          - Path of the base image. It must be a volume of a pool (or, when the module runs on the hypervisor, a file).
          - The path is normalized (C(//), C(/./), C(dir/..) and a trailing C(/) taken out) before it is used
            and compared.
          - When O(capacity) is left out, the overlay has the base image's capacity.
        type: str
        required: true
      format:
        description: Format of the base image; read from the base volume when left out.
        type: str
  clone_from:
    description:
      - Create the volume as a copy of another volume (libvirt C(createXMLFrom)), in this pool or another where
        the pool types allow it.
      - Used only when the volume is created; a volume that exists is not copied over.
      - With O(capacity) larger than the source's, the copy gets that capacity. A O(capacity) below the source's
        size (by more than the pool's rounding) is refused, since the copy would be the source's size.
      - Across pool types libvirt converts where the target needs it (a qcow2 file into an LV arrives as raw).
        This is how a volume migrates between pools - dir to logical, logical to netfs, and so on.
      - Into or out of an V(rbd) pool (whose libvirt backend copies only within its own RADOS pool) the module
        copies instead - the volume created at the source's capacity (action C(create)), then the source's bytes
        written into it (action C(copy)). The copy is raw; O(format) other than V(raw) is refused. A source image
        in another format (a qcow2 file) is first converted to raw by C(qemu-img) on the hypervisor (action
        C(convert), into a temporary directory; C(TMPDIR) sets it), and the copy step compares what the volume
        holds with the converted image.
    type: dict
    suboptions:
      name:
        description: Name of the source volume.
        type: str
        required: true
      pool:
        description: Pool of the source volume; this O(pool) when left out.
        type: str
      verify:
        description:
          - Compare the copy with the source before the task goes on (action C(verify)); a copy that differs is
            deleted and the task fails. Raw volumes are compared byte for byte through libvirt (their SHA-256 over
            the source's capacity), wherever the module runs; images in other formats by C(qemu-img compare) of the
            disks the guest sees, which needs the module on the hypervisor with qemu-img there.
          - By default V(true) for a copy from another pool and for O(clone_from.move), V(false) within a pool
            (libvirt's own copy, or an RBD copy-on-write clone). A default copy that cannot be verified goes on with
            a warning; an asked-for one is refused before anything is made.
        type: bool
      move:
        description:
          - Delete the source once the copy is verified (action C(delete_source)), so that the volume moves. Needs
            O(clone_from.verify) (the default), a source pool type that deletes volumes, and a source that no
            domain uses and no overlay has in its backing chain, unless O(force=true) - the refusal names them.
          - A later run finds the moved volume and does nothing; the source need not exist any more.
        type: bool
  encryption:
    description:
      - Create the volume LUKS-encrypted (libvirt's C(<encryption format='luks'>)) with the passphrase of a libvirt
        secret of usage C(volume) - make it with M(kvmops.storage.storage_secret) (O(kvmops.storage.storage_secret#module:usage=volume)),
        the passphrase as its value. libvirt makes the LUKS header with C(qemu-img), so the passphrase goes through a
        file, never a command line, and is never in the module's output.
      - For image-file pools (V(dir), V(fs), V(netfs)); O(format) V(raw) makes a LUKS container, V(qcow2) a qcow2
        image with LUKS encryption. A guest opens it with the same secret (C(<encryption>) in its disk).
      - A secret that does not exist, or has another usage than V(volume), is refused before anything is made
        (check mode goes on with a warning, assuming an earlier task of the run makes it).
      - Set only when the volume is created; a volume that exists unencrypted or with another secret is refused.
      - With O(content), libvirt creates the encrypted volume and C(qemu-img convert) writes the image's disk into
        it through the encryption, on the hypervisor (not with a remote O(uri)); the secret must not be private,
        since the module reads its value for that. O(content.force) and O(content.compare) are refused with it.
      - An encrypted volume is not exported (O(export) refuses it) and not made by O(clone_from) or over a
        O(backing_store).
    type: dict
    suboptions:
      format:
        description: The encryption format (V(luks) when left out); C(qcow)'s own encryption libvirt does not create.
        type: str
        choices: [luks]
      secret_uuid:
        description: UUID of the secret. Exactly one of O(encryption.secret_uuid) and O(encryption.secret_usage).
        type: str
      secret_usage:
        description: Usage id of the secret (of usage type C(volume); conventionally the volume's path).
        type: str
  content:
    description:
      - Import an image into a new volume through a libvirt stream, from a file (O(content.src)) or an http(s) URL
        (O(content.url)) on the host that runs the module (the hypervisor, or the controller with a remote O(uri)).
        Exactly one of O(content.src) and O(content.url) is required.
      - A source compressed with gzip, bzip2, xz or zstd is recognized by its first bytes (not by its name) and
        decompressed as it is streamed; nothing is stored whole first, on either host. zstd needs the python
        zstandard library where the module runs (Debian and Ubuntu C(python3-zstandard), or C(pip install
        zstandard)); without it a zstd source is refused naming it.
      - On image-file pools the image goes in as it is, and the volume gets the image's format and virtual size
        (a larger O(capacity) then grows it after the upload). The format and the virtual size of a qcow2 image are
        read from its first bytes. A raw image whose size is known only once it is transferred (compressed, or a
        URL without C(Content-Length)) is written into a volume made O(capacity) (empty when O(capacity) is left
        out, then of the image's size); an image larger than O(capacity) fails after the transfer and the volume is
        deleted. On block pools (V(disk), V(logical)...) the volume is made O(capacity) (or the file's size when
        O(capacity) is left out), and the image's bytes are written at its start; O(capacity) is then required for
        a compressed image or a URL without C(Content-Length). A O(capacity) smaller than the image (by more than
        the pool's rounding) is refused.
      - Used only when the volume is created. A volume that exists is not imported again, and a later run needs no
        file or URL, unless O(content.force) or O(content.compare) says so.
      - A failed or interrupted transfer, a source whose bytes do not have O(content.checksum), or a volume whose
        bytes read back do not match what was written deletes the new volume (the error names the expected and
        the actual digest).
      - An image is converted where the volume needs another format (O(content.convert)), so a qcow2 cloud image
        goes into a V(logical), V(disk), V(iscsi), V(scsi), V(mpath) or V(zfs) volume as the raw disk it holds.
      - On image-file pools the transfer is sparse (libvirt's sparse stream) - runs of zero bytes of the image, in
        aligned blocks of 64 KiB, are not sent and stay holes in the new file, so a mostly empty raw image takes
        only the space of its data, on the wire and in the pool. The checksums cover every byte, holes included.
        On block pools every byte is written (a hole there would leave what the device held before).
    type: dict
    suboptions:
      src:
        description: Path of the file to import, on the host that runs the module.
        type: path
      url:
        description:
          - An V(http://) or V(https://) URL of the image, fetched by the host that runs the module with Ansible's
            own HTTP client - proxies from C(http_proxy), C(https_proxy) and C(no_proxy) in that host's environment,
            C(~/.netrc), certificates checked against the system's CA bundle (or O(content.ca_path)).
          - The body is requested twice - once while planning (check mode too) for its first bytes, once for the
            transfer. It must be sent as it is (a body sent with a C(Content-Encoding) is refused); a transfer that
            ends before its C(Content-Length), or compressed data that ends early, fails.
          - User, password and query string are left out of messages and of the result. Written into the URL they
            are still part of the task's arguments (shown with C(-vvv)); give O(content.url_username) and
            O(content.url_password) instead.
          - An HTTP error fails the task naming the status and the URL, in check mode too.
        type: str
      checksum:
        description:
          - V(ALGORITHM:HEXDIGEST) of the source as given (the compressed file, for a compressed source - what
            vendors publish), with ALGORITHM one of V(md5), V(sha1), V(sha224), V(sha256), V(sha384), V(sha512),
            V(sha3_224), V(sha3_256), V(sha3_384), V(sha3_512), V(blake2b), V(blake2s).
          - A file is checked before the volume is created (in check mode too); a URL is hashed as it is fetched
            and checked once all of it has arrived, before the task reports the volume made (a mismatch deletes
            it). The bytes written are then read back from the volume and compared with the bytes sent.
        type: str
      timeout:
        description:
          - Seconds that O(content.url) may take to connect, and to send each next piece of the body. Not a bound on
            the whole transfer. V(30) when left out.
        type: float
      validate_certs:
        description: Check the certificate of an V(https://) O(content.url). V(true) when left out.
        type: bool
      ca_path:
        description: A PEM file of CA certificates to check the certificate of O(content.url) with, instead of the system's.
        type: path
      url_username:
        description: User name for O(content.url) (HTTP basic or digest authentication, sent when the server asks).
        type: str
      url_password:
        description: Password of O(content.url_username); never in any output.
        type: str
      force:
        description:
          - Import again into a volume that exists - it is deleted, made again and filled from the source, on every
            run (so every run reports C(changed)). The data it held is lost, also when the new import fails.
          - Refused for a volume that a domain uses, or that another volume has in its backing chain, unless
            O(force=true).
        type: bool
      compare:
        description:
          - Decide whether a volume that exists holds the source - its first N bytes are read back and hashed (N is
            the size of the source, the file's size or the URL's C(Content-Length)) and compared with
            O(content.checksum); when they differ, the volume is imported again as O(content.force) does.
          - This reads that much of the volume on every run (check mode too), and opens the source (the file, or a
            request for the URL's first bytes) to learn its size.
          - Needs O(content.checksum) and a source that is not compressed (the checksum of a compressed file is not
            that of the volume's bytes). Suits raw images, and qcow2 images imported as they are; a qcow2 volume
            grown by O(capacity) after the import has another header, so it would be imported again each run.
        type: bool
      convert:
        description:
          - Convert the image with C(qemu-img convert) where the new volume needs another format - an image that is
            not raw (qcow2, vmdk, vdi, vpc, vhdx, qed) into a pool whose volumes hold raw bytes (every pool but the
            image-file ones), and an image into an image-file pool's volume whose O(format) differs from the
            image's (a raw image into V(qcow2)). The guest sees the same disk. V(true) when not given.
          - Runs where the module runs (see "where the bytes are"), which needs qemu-img there (package qemu-utils
            on Debian and Ubuntu, qemu-img on RHEL and Fedora); without it such a task is refused before anything
            is made, in check mode too.
          - The image is converted into a temporary directory (O(content.tmpdir)) before the volume is made; a
            compressed file or a URL is first written there as it decompresses (its O(content.checksum) checked),
            and the converted image takes the space of its data (holes stay holes). The directory is removed
            whatever happens; a failed conversion makes no volume. The actions are C(convert), C(create),
            C(upload) (and C(resize) when O(capacity) is larger), in check mode too.
          - The size of the volume is the image's virtual size (read from a qcow2 header) or O(capacity); for the
            other formats, and a compressed raw image going into a qcow2 volume, O(capacity) is required.
          - V(false) uploads the bytes as they are (a qcow2 image into a V(logical) volume stays qcow2 bytes there),
            and refuses a O(format) that differs from the image's on an image-file pool.
        type: bool
      tmpdir:
        description:
          - The directory, on the host that runs the module, of the temporary copy that O(content.convert) makes;
            the default is that of Python's C(tempfile) (C(TMPDIR), else C(/tmp)).
        type: path
  mode:
    description:
      - Permissions of the volume file, an octal string such as V("0600") (quote it in YAML), from V("0000") to
        V("0777") (libvirt refuses setuid, setgid and sticky bits; so does the module, before anything is made).
        Compared in the form libvirt prints (V("0070") is C(070)).
      - Applied by libvirt when the volume is created; for a volume that exists, changed by the module when it runs
        on the hypervisor that holds the file, and refused otherwise.
    type: raw
  owner:
    description: Owner of the volume file, a user name or uid; applied as O(mode) is.
    type: raw
  group:
    description: Group of the volume file, a group name or gid; applied as O(mode) is.
    type: raw
  state:
    description:
      - V(present) makes the volume exist as described; V(absent) deletes it (after O(wipe), when given).
    type: str
    choices: [present, absent]
    default: present
  wipe:
    description:
      - With O(state=absent), overwrite the volume's data with this algorithm (libvirt C(vol-wipe)) before deleting it.
        V(zero) writes zeroes; V(random) random data; V(trim) discards the blocks; the others are the multi-pass
        patterns of their standards.
    type: str
    choices: [zero, nnsa, dod, bsi, gutmann, schneier, pfitzner7, pfitzner33, random, trim]
  allow_shrink:
    description: Allow a smaller O(capacity) to shrink a volume that exists. The data past the new end is lost.
    type: bool
    default: false
  force:
    description:
      - Delete, wipe or shrink a volume even though a defined domain uses it (as a disk or in a disk's backing
        chain) or a volume of any pool has it in its backing chain.
      - In an V(rbd) pool, delete an image together with all its snapshots, also those libvirt did not make.
    type: bool
    default: false
  export:
    description:
      - Write the volume's content to a file on the host that runs the module (see "where the bytes are" above -
        with C(delegate_to) V(localhost) and a remote O(uri), a file on the controller), for a backup or to carry
        an image elsewhere. libvirt streams the volume (C(virsh vol-download --sparse)), so its holes are not sent
        and stay holes in a raw export.
      - The file is written into a temporary file beside O(export.dest) and renamed over it only when whole, with
        mode C(0600); a failed or interrupted export leaves no partial file and keeps an older export as it was.
      - Beside it, a sidecar file C(DEST.ALGORITHM) (for example C(vm1.raw.sha256)) holds the checksum of the file
        in the form C(sha256sum -c) reads, and comment lines saying what the export was made from.
      - A later run does not write the file again while the export is current - the sidecar names this volume, the
        same O(export.format) and O(export.compress), the file has the size and modification time the sidecar
        recorded, and the volume has not changed since. A volume in a file pool has changed when its size or the
        modification time libvirt reports has; a volume without one (a block device, an RBD image) is read whole
        and compared by its digest on each run, in check mode too.
      - A volume that a running domain writes to (a disk of its live definition that is not C(<readonly/>)) is
        refused, naming the domain, because a copy taken under a running guest is not consistent; shut the
        domain down, freeze its file systems (C(virsh domfsfreeze)) for the export, or take a disk-only external
        snapshot (C(virsh snapshot-create-as DOMAIN --disk-only)) so that the volume becomes a backing file that
        nobody writes. O(export.force_in_use=true) exports it anyway.
      - An overlay (a volume with a backing store) is refused, since its own bytes are not the whole disk; clone
        it with O(clone_from) into a volume of its own and export that.
      - Needs O(state=present). With O(volumes), give it in the items.
    type: dict
    suboptions:
      dest:
        description:
          - Absolute path of the file to write, on the host that runs the module. Its directory must exist.
        type: path
        required: true
      format:
        description:
          - The image format of the file. By default the volume's own (a qcow2 volume gives a qcow2 file; an LV,
            a partition, an RBD image or an ISO gives raw bytes).
          - Another format is converted with C(qemu-img convert) on the host that runs the module (package
            qemu-utils on Debian and Ubuntu, qemu-img on RHEL and Fedora), through a temporary raw copy in the
            directory of O(export.dest); without qemu-img such a task is refused before anything is read.
        type: str
        choices: [raw, qcow2]
      compress:
        description:
          - Compress the file as it is written (V(zstd) needs the python zstandard library where the module runs).
            A compressed file has no holes; O(content) imports it as it is, decompressing by content.
          - The checksum is that of the compressed file.
        type: str
        choices: [gzip, bzip2, xz, zstd]
      checksum:
        description:
          - The hash algorithm of the checksum, the sidecar's name and RV(export.checksum); V(sha256) when not
            given.
        type: str
        choices: [blake2b, blake2s, md5, sha1, sha224, sha256, sha384, sha3_224, sha3_256, sha3_384, sha3_512, sha512]
      force:
        description: Write the file even when the export is current (V(false) when not given).
        type: bool
      force_in_use:
        description:
          - Export a volume that a running domain writes to; the copy may not be consistent (V(false) when not
            given).
        type: bool
notes:
  - Volumes of V(iscsi), V(iscsi-direct), V(scsi) and V(mpath) pools are LUNs or devices; they cannot be created,
    deleted or resized through libvirt, only wiped (and uploaded to, except V(iscsi-direct)).
  - Permissions of existing volumes are changed with chmod/chown and the pool is refreshed so libvirt sees them.
seealso:
  - module: kvmops.storage.storage_pool
  - name: libvirt storage volume XML
    description: The volume XML format.
    link: https://libvirt.org/formatstorage.html#storage-volume-xml
'''

EXAMPLES = r'''
- name: A 40 GiB qcow2 disk image
  kvmops.storage.storage_volume:
    pool: images
    name: vm1.qcow2
    capacity: 40GiB
    format: qcow2
    mode: "0600"

- name: Grow it to 60 GiB (in place; shrinking would need allow_shrink)
  kvmops.storage.storage_volume:
    pool: images
    name: vm1.qcow2
    capacity: 60GiB

- name: An overlay on a golden image
  kvmops.storage.storage_volume:
    pool: images
    name: vm2.qcow2
    backing_store:
      path: /var/lib/libvirt/images/debian-12-golden.qcow2
      format: qcow2

- name: A full copy of the golden image in another pool
  kvmops.storage.storage_volume:
    pool: fast
    name: vm3.qcow2
    clone_from:
      pool: images
      name: debian-12-golden.qcow2

- name: Move a disk from a dir pool onto an LV (converted to raw by libvirt, verified, then the source deleted)
  kvmops.storage.storage_volume:
    pool: vg_kvm
    name: vm6-root
    clone_from:
      pool: images
      name: vm6-root.qcow2
      move: true

- name: Import a cloud image that is on the hypervisor, verified
  kvmops.storage.storage_volume:
    pool: images
    name: debian-12-genericcloud.qcow2
    content:
      src: /srv/images/debian-12-genericcloud-amd64.qcow2
      checksum: "sha512:{{ debian_image_sha512 }}"
    capacity: 20GiB

- name: Import a compressed cloud image from a web server, verified against the vendor's checksum
  kvmops.storage.storage_volume:
    pool: images
    name: debian-12-nocloud.qcow2
    capacity: 20GiB
    content:
      url: https://images.example.com/debian-12-nocloud-amd64.qcow2.xz
      checksum: "sha512:{{ debian_image_xz_sha512 }}"
      timeout: 60

- name: Import a file of the controller into a volume of a remote hypervisor (libvirt carries the bytes)
  kvmops.storage.storage_volume:
    uri: qemu+ssh://root@hv1.example.com/system
    pool: images
    name: golden.raw
    content:
      src: "{{ playbook_dir }}/files/golden.raw.zst"
  delegate_to: localhost

- name: Import again whenever the volume no longer holds the image
  kvmops.storage.storage_volume:
    pool: images
    name: appliance.raw
    content:
      src: /srv/images/appliance.raw
      checksum: "sha256:{{ appliance_sha256 }}"
      compare: true

- name: A qcow2 cloud image onto a new LV, converted to the raw disk it holds
  kvmops.storage.storage_volume:
    pool: vg_kvm
    name: vm5-root
    content:
      url: https://images.example.com/debian-12-genericcloud-amd64.qcow2
      checksum: "sha512:{{ vendor_sha512 }}"
      tmpdir: /var/tmp

- name: Write a raw image onto a new LV
  kvmops.storage.storage_volume:
    pool: vg_kvm
    name: vm4-root
    capacity: 20G
    content:
      src: /srv/images/vm4-root.raw

- name: Many volumes in one task (one connection, one listing of the pool)
  kvmops.storage.storage_volume:
    pool: images
    format: qcow2          # default for every item
    volumes:
      - {name: web1.qcow2, capacity: 20G}
      - {name: web2.qcow2, capacity: 20G}
      - {name: db1.qcow2, capacity: 100G, preallocation: metadata}
      - {name: old.qcow2, state: absent}

- name: Wipe and delete a volume
  kvmops.storage.storage_volume:
    pool: images
    name: scratch.raw
    state: absent
    wipe: zero

- name: A partition on a disk pool
  kvmops.storage.storage_volume:
    pool: sdb
    name: sdb1
    capacity: 10G
    format: linux

- name: Back up a volume as a compressed qcow2 file (not written again while it is current)
  kvmops.storage.storage_volume:
    pool: images
    name: vm1.qcow2
    export:
      dest: /srv/backup/vm1.qcow2.zst
      compress: zstd
  register: backup
# backup.export.checksum is sha256:..., also in /srv/backup/vm1.qcow2.zst.sha256

- name: Export a volume of a hypervisor to a raw file on the controller
  kvmops.storage.storage_volume:
    uri: qemu+ssh://root@hv1/system
    pool: images
    name: golden.qcow2
    export:
      dest: "{{ playbook_dir }}/golden.raw"
      format: raw
  delegate_to: localhost

# ad hoc: ansible hv1 -m kvmops.storage.storage_volume -a "pool=images name=t.qcow2 capacity=10G format=qcow2"
'''

RETURN = r'''
actions:
  description:
    - The libvirt operations performed, in order; in check mode, the ones the real run would perform.
    - For one volume, among C(create), C(clone), C(upload), C(resize), C(shrink), C(chmod), C(chown),
      C(chmod_chown), C(wipe), C(delete), C(export), C(convert), C(verify), C(delete_source). With O(volumes), each is C(ACTION:VOLUME).
    - An import again (O(content.force), O(content.compare)) is C(delete), C(create), C(upload) and maybe C(resize).
    - An import that converts the image (O(content.convert)) starts with C(convert).
    - O(export) adds C(export) when it writes the file.
    - A verified copy (O(clone_from.verify)) adds C(verify) after C(clone); O(clone_from.move) then C(delete_source).
    - A copy into or out of an V(rbd) pool is C(create) and C(copy) instead of C(clone) (C(convert) first for an image
      converted to raw).
  returned: always
  type: list
  elements: str
  sample: [create]
volume:
  description:
    - The volume after the task (in check mode, before it), when O(name) is given.
    - The same record as each volume of M(kvmops.storage.storage_facts), which adds C(used_by).
  returned: when O(name) is given
  type: dict
  contains:
    name:
      description: Volume name.
      type: str
      returned: always
      sample: vm1.qcow2
    pool:
      description: Pool name.
      type: str
      returned: always
      sample: images
    state:
      description: V(present) or V(absent).
      type: str
      returned: always
      sample: present
    type:
      description: libvirt's volume type (V(file), V(block), V(network), V(netdir)...).
      type: str
      returned: when present
      sample: file
    path:
      description: Path of the volume (for V(rbd), C(POOL/IMAGE)).
      type: str
      returned: when present
      sample: /var/lib/libvirt/images/vm1.qcow2
    key:
      description: libvirt's key of the volume.
      type: str
      returned: when present
    format:
      description: Format of the volume (image format, or partition type on V(disk) pools); null when libvirt has none.
      type: str
      returned: when present
      sample: qcow2
    capacity:
      description: Capacity in bytes.
      type: int
      returned: when present
      sample: 42949672960
    allocation:
      description: Allocated bytes.
      type: int
      returned: when present
      sample: 200704
    physical:
      description:
        - The bytes the volume takes where it is stored as libvirt measures them - the file size of a file
          volume (the size of its image file, for a sparse raw file the capacity, for a qcow2 image its header
          and written clusters), which C(allocation) (blocks in use) and C(capacity) (size the guest sees)
          do not tell.
        - Null when libvirt reports none (libvirt before 3.0, or a pool type whose backend does not measure
          it).
      type: int
      returned: when present
      sample: 196928
    backing_store:
      description: C(path) and C(format) of the backing store, or null.
      type: dict
      returned: when present
    mode:
      description: Permissions, octal.
      type: str
      returned: when present
      sample: "0600"
    owner:
      description: Owner uid.
      type: str
      returned: when present
      sample: "0"
    group:
      description: Group gid.
      type: str
      returned: when present
      sample: "0"
volumes:
  description:
    - With O(volumes), one entry per item in the order given, each as RV(volume) describes, plus its own
      C(changed) (bool) and C(actions) (list).
  returned: when O(volumes) is given
  type: list
  elements: dict
  sample: [{name: web1.qcow2, state: present, capacity: 21474836480, changed: true, actions: [create]}]
export:
  description:
    - The export of O(export), as written or as found current; in check mode, as the real run would write it
      (C(checksum) and C(size) null when it would write the file).
  returned: when O(export) is given
  type: dict
  contains:
    dest:
      description: The file.
      type: str
      returned: always
      sample: /srv/backup/vm1.qcow2.zst
    sidecar:
      description: The sidecar file with the checksum.
      type: str
      returned: always
      sample: /srv/backup/vm1.qcow2.zst.sha256
    format:
      description: Image format of the file (before compression).
      type: str
      returned: always
      sample: qcow2
    compress:
      description: Compression of the file, or null.
      type: str
      returned: always
      sample: zstd
    checksum:
      description: C(ALGORITHM:HEX) of the file as written.
      type: str
      returned: always
      sample: "sha256:9737879451a0cf8505cf7518b5eaa6f2d9b5e0fc0e2cfe60e51b3808deab6006"
    size:
      description: Bytes of the file.
      type: int
      returned: always
      sample: 4194820
    written:
      description: Whether the task writes the file (false - the export was current).
      type: bool
      returned: always
    reason:
      description: Why the file is written (for example C(the volume changed since the export ...)), or null.
      type: str
      returned: always
      sample: there is no export at /srv/backup/vm1.qcow2.zst yet
exports:
  description: With O(volumes), the RV(export) of each item that has O(volumes[].export), with the item's C(name).
  returned: when an item of O(volumes) has O(volumes[].export)
  type: list
  elements: dict
diff:
  description:
    - In diff mode, the volume before and after; with O(volumes), a list with one entry per changed volume.
  returned: when diff mode is on and something changes
  type: raw
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kvmops.storage.plugins.module_utils.connection import connection_argument_spec
from ansible_collections.kvmops.storage.plugins.module_utils.engine import run_module
from ansible_collections.kvmops.storage.plugins.module_utils.volume import (
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    VolumeManager,
    volume_argument_spec,
)


def main():
    argument_spec = connection_argument_spec()
    argument_spec.update(volume_argument_spec())
    module = AnsibleModule(argument_spec=argument_spec, mutually_exclusive=MUTUALLY_EXCLUSIVE,
                           required_one_of=REQUIRED_ONE_OF, supports_check_mode=True)
    run_module(module, VolumeManager)


if __name__ == '__main__':
    main()
