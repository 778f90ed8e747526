"""Checks of scripts/packaging.sh that read what the tools wrote (run with the packaging virtualenv's Python).

  packaging_checks.py files REPO INSTALLED          every file git tracks and galaxy.yml does not ignore is
                                                    in the installed collection, and every one of the
                                                    content (SHIPPED) whatever galaxy.yml says; nothing
                                                    git ignores is
  packaging_checks.py importer REPO RESULT_JSON     galaxy-importer found the docs of every module and filter
  packaging_checks.py ee-context REPO CONTEXT TARBALL PIP_OUT BINDEP_OUT
                                                    the build context installs that tarball, and the
                                                    introspection of the image build lists requirements.txt
                                                    and bindep.txt
  packaging_checks.py bindep REPO                   bindep.txt names runtime and compile packages for
                                                    platform:dpkg and platform:rpm

Each prints what it found wrong and exits 1, or prints one line and exits 0.
"""

import filecmp
import fnmatch
import json
import os
import subprocess
import sys

import yaml

# ansible-galaxy collection build leaves these out whatever galaxy.yml says
BUILD_ALWAYS_IGNORED = ('galaxy.yml', 'galaxy.yaml', '.git', '*.pyc', '*.retry', 'tests/output')
# what users of the collection need: every tracked file here must be in the tarball, whatever build_ignore says
SHIPPED = ('plugins/', 'roles/', 'playbooks/', 'meta/', 'docs/', 'changelogs/', 'README.md', 'LICENSE',
           'requirements.txt', 'bindep.txt')


def _git_files(repo, *args):
    out = subprocess.run(['git', '-C', repo, 'ls-files', '-z'] + list(args), stdout=subprocess.PIPE,
                         check=True).stdout.decode()
    return sorted(name for name in out.split('\0') if name)


def _ignored_by_build(path, patterns):
    parts = path.split('/')
    prefixes = ['/'.join(parts[:i]) for i in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes for pattern in patterns)


def _installed_files(root):
    found = set()
    for top, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            found.add(os.path.relpath(os.path.join(top, name), root))
    return found


def check_files(repo, installed):
    with open(os.path.join(repo, 'galaxy.yml')) as handle:
        galaxy = yaml.safe_load(handle)
    patterns = list(BUILD_ALWAYS_IGNORED) + list(galaxy.get('build_ignore') or [])
    have = _installed_files(installed)
    tracked = [path for path in _git_files(repo) if os.path.isfile(os.path.join(repo, path))]
    missing = [path for path in tracked if not _ignored_by_build(path, patterns) and path not in have]
    dropped = [path for path in tracked if _ignored_by_build(path, patterns) and path not in have
               and path.startswith(SHIPPED) and path not in BUILD_ALWAYS_IGNORED]
    # files git ignores (caches, test output, virtualenvs) never belong in the tarball
    extra = sorted(have - set(tracked) - {'MANIFEST.json', 'FILES.json'})
    stray = []
    if extra:
        ignored = subprocess.run(['git', '-C', repo, 'check-ignore', '--no-index', '--stdin', '-z'],
                                 input='\0'.join(extra).encode(), stdout=subprocess.PIPE, check=False).stdout
        stray = sorted(name for name in ignored.decode().split('\0') if name)
    errors = ['not in the built collection: %s' % path for path in missing]
    errors += ['left out of the built collection by galaxy.yml build_ignore: %s' % path for path in dropped]
    errors += ['in the built collection but ignored by git (a build leftover): %s' % path for path in stray]
    for line in errors:
        print(line)
    if errors:
        return 1
    untracked = sorted(set(extra) - set(stray))
    note = ' (%d untracked file(s) of the work tree too: %s)' % (len(untracked), ', '.join(untracked[:5])) \
        if untracked else ''
    print('the installed collection has all %d tracked files that galaxy.yml keeps%s'
          % (len(tracked) - sum(1 for p in tracked if _ignored_by_build(p, patterns)), note))
    return 0


def check_importer(repo, result_json):
    with open(result_json) as handle:
        result = json.load(handle)
    documented = {('module', name[:-3]) for name in os.listdir(os.path.join(repo, 'plugins', 'modules'))
                  if name.endswith('.py') and not name.startswith('_')}
    filter_dir = os.path.join(repo, 'plugins', 'filter')
    documented |= {('filter', name[:-4]) for name in os.listdir(filter_dir) if name.endswith('.yml')}
    with_docs = {(item['content_type'], item['content_name'])
                 for item in result['docs_blob']['contents'] if item.get('doc_strings')}
    errors = ['galaxy-importer found no documentation for %s %s' % key for key in sorted(documented - with_docs)]
    roles = sorted(name for name in os.listdir(os.path.join(repo, 'roles')))
    found_roles = sorted(item['name'] for item in result['contents'] if item['content_type'] == 'role')
    if found_roles != roles:
        errors.append('galaxy-importer found the roles %s, not %s' % (found_roles, roles))
    if not result['docs_blob'].get('collection_readme', {}).get('html'):
        errors.append('galaxy-importer rendered no README')
    for line in errors:
        print(line)
    if errors:
        return 1
    print('galaxy-importer: docs of %d modules and filters, %d roles, requires_ansible %s'
          % (len(documented), len(roles), result.get('requires_ansible')))
    return 0


def _requirement_lines(path):
    with open(path) as handle:
        lines = [line.split('#', 1)[0].strip() for line in handle]
    return [line for line in lines if line]


def check_ee_context(repo, context, tarball, pip_out, bindep_out):
    errors = []
    containerfile = os.path.join(context, 'Containerfile')
    if not os.path.isfile(containerfile):
        errors.append('no Containerfile in %s' % context)
    else:
        with open(containerfile) as handle:
            text = handle.read()
        for needle in ('ansible-galaxy collection install', 'introspect.py introspect', 'install-from-bindep'):
            if needle not in text:
                errors.append('the Containerfile has no %r step' % needle)
    galaxy_requirements = os.path.join(context, '_build', 'requirements.yml')
    wanted = {}
    if not os.path.isfile(galaxy_requirements):
        errors.append('no %s: ansible-builder wrote no collection requirements' % galaxy_requirements)
    else:
        with open(galaxy_requirements) as handle:
            wanted = yaml.safe_load(handle) or {}
    collections = wanted.get('collections') or []
    names = [item.get('name') for item in collections]
    if names != ['/build/collections/kvmops-storage.tar.gz']:
        errors.append('the build context installs %s, not the tarball' % names)
    copied = os.path.join(context, '_build', 'collections', 'kvmops-storage.tar.gz')
    if not (os.path.isfile(copied) and filecmp.cmp(copied, tarball, shallow=False)):
        errors.append('%s is not the tarball that was built' % copied)
    # the lines the image build's introspection collects from the installed collection
    for produced, source in ((pip_out, 'requirements.txt'), (bindep_out, 'bindep.txt')):
        got = _requirement_lines(produced) if os.path.isfile(produced) else []
        want = _requirement_lines(os.path.join(repo, source))
        if got != want:
            errors.append('the image build would take %s from the collection, not %s\'s %s' % (got, source, want))
    for line in errors:
        print(line)
    if errors:
        return 1
    print('build context: Containerfile, the tarball, requirements.txt (%d) and bindep.txt (%d) introspected'
          % (len(_requirement_lines(pip_out)), len(_requirement_lines(bindep_out))))
    return 0


def check_bindep(repo):
    from bindep.depends import Depends  # pylint: disable=import-outside-toplevel

    with open(os.path.join(repo, 'bindep.txt')) as handle:
        depends = Depends(handle.read())
    errors = []
    summary = []
    for platform in ('dpkg', 'rpm'):
        for profile in ('default', 'compile'):
            rules = depends.active_rules(['platform:' + platform, profile])
            names = sorted(rule[0] for rule in rules)
            if profile == 'compile':
                names = sorted(set(names) - {rule[0] for rule in depends.active_rules(['platform:' + platform])})
            if not names:
                errors.append('bindep.txt names no %s packages for platform:%s' % (profile, platform))
            summary.append('%s %s: %s' % (platform, profile, ' '.join(names)))
    for line in errors:
        print(line)
    if errors:
        return 1
    print('bindep.txt: ' + '; '.join(summary))
    return 0


def main(argv):
    commands = {'files': check_files, 'importer': check_importer, 'ee-context': check_ee_context,
                'bindep': check_bindep}
    if len(argv) < 2 or argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[argv[1]](*argv[2:])


if __name__ == '__main__':
    sys.exit(main(sys.argv))
