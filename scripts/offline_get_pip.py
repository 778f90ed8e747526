"""Stand-in for the pip bootstrap script that ansible-test downloads from a host this machine cannot reach.

ansible-test runs it inside a new empty virtualenv with pip's install options and the packages to
install (pip==X, ...). It installs the pip bundled with Python (ensurepip), then lets that pip
install the requested packages from the configured package index.
"""

import subprocess
import sys

GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')

if __name__ == '__main__':
    # in a child process: ensurepip points PIP_CONFIG_FILE at /dev/null in its own environment,
    # which would hide the machine's pip configuration from the install below
    subprocess.check_call([sys.executable, '-m', 'ensurepip'])
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install'] + args))
