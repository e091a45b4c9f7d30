#!/bin/sh
# Creates the project's environment (.venv) from uv.lock; `make demo` and `make test` start here.
#
# Needs nothing but a Python 3.11-3.13 interpreter with its venv module. uv comes from PATH when
# it is there; otherwise a pinned uv is installed from PyPI into .tools/ (git-ignored), through a
# throw-away virtual environment: never into the system Python, which Debian and Ubuntu mark as
# externally managed (PEP 668), and never with --break-system-packages.
#
# Whatever is missing from the machine is named with the Debian/Ubuntu package that provides it,
# in the first lines of output, before anything is downloaded.
#
# Settings: CRM_PYTHON (an interpreter to use instead of the first suitable python3 on PATH).
set -eu

UV_VERSION=0.13.8
SUPPORTED="3.11, 3.12 or 3.13"

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"

say() { printf '%s\n' "$*" >&2; }

missing() { # <what is missing> <Debian/Ubuntu packages that provide it> [more advice]
    say "error: $1 is missing. On Debian or Ubuntu, install it with:"
    say "    sudo apt-get install $2"
    [ $# -lt 3 ] || say "$3"
    exit 1
}

python_version() { # <interpreter> -> "3.11" on stdout, nothing if it does not run
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

is_supported() { # <major.minor>
    case "$1" in 3.11 | 3.12 | 3.13) return 0 ;; *) return 1 ;; esac
}

# --- 1. a Python the lock file supports ------------------------------------------------------
find_python() {
    if [ -n "${CRM_PYTHON:-}" ]; then
        version=$(python_version "$CRM_PYTHON")
        if [ -z "$version" ]; then
            say "error: CRM_PYTHON=$CRM_PYTHON does not run."
            exit 1
        fi
        if ! is_supported "$version"; then
            say "error: CRM_PYTHON=$CRM_PYTHON is Python $version; the project needs Python $SUPPORTED."
            exit 1
        fi
        echo "$CRM_PYTHON"
        return
    fi
    found=""
    for candidate in python3 python3.13 python3.12 python3.11; do
        command -v "$candidate" >/dev/null 2>&1 || continue
        version=$(python_version "$candidate")
        [ -n "$version" ] || continue
        if is_supported "$version"; then
            echo "$candidate"
            return
        fi
        found="$found $candidate=$version"
    done
    if [ -z "$found" ]; then
        missing "python3 (Python $SUPPORTED)" "python3 python3-venv"
    fi
    say "error: the project needs Python $SUPPORTED; this machine has:$found."
    say "    Debian 12/13 and Ubuntu 24.04+ ship a suitable python3:  sudo apt-get install python3 python3-venv"
    say "    Ubuntu 22.04 (Python 3.10) has 3.11 in universe:         sudo apt-get install python3.11 python3.11-venv"
    say "    Or name any 3.11-3.13 interpreter:                        CRM_PYTHON=/path/to/python3.12 make demo"
    exit 1
}

python=$(find_python)
python_path=$("$python" -c 'import sys; print(sys.executable)')
version=$(python_version "$python")

# Debian and Ubuntu ship venv's ensurepip in a separate package (python3-venv, python3.X-venv).
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$python" = python3 ]; then package=python3-venv; else package="python$version-venv"; fi
    missing "Python's venv module (for $python_path)" "$package"
fi

# --- 2. uv: from PATH, or a pinned copy in .tools/bin -----------------------------------------
find_or_install_uv() {
    if command -v uv >/dev/null 2>&1; then
        command -v uv
        return
    fi
    uv="$tools/bin/uv"
    if [ -x "$uv" ] && [ "$("$uv" --version 2>/dev/null | cut -d' ' -f2)" = "$UV_VERSION" ]; then
        echo "$uv"
        return
    fi
    say "Installing uv $UV_VERSION from PyPI into $tools/bin (not into the system Python)"
    mkdir -p "$tools/bin"
    scratch=$(mktemp -d "$tools/uv-install.XXXXXX")
    # The uv wheel carries one static binary: install it into a scratch venv, keep the binary.
    if ! "$python" -m venv "$scratch/venv" >&2 \
        || ! "$scratch/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "uv==$UV_VERSION" >&2; then
        rm -rf "$scratch"
        say "error: could not install uv $UV_VERSION from PyPI (see the lines above)."
        exit 1
    fi
    mv "$scratch/venv/bin/uv" "$uv.partial"
    mv "$uv.partial" "$uv"
    rm -rf "$scratch"
    echo "$uv"
}

uv=$(find_or_install_uv)

# --- 3. the environment, exactly as locked ----------------------------------------------------
# With the spark extra (pyspark, dbt-spark: about 500 MB), so that CRM_ENGINE=spark needs no
# other install step; the tests build the marts on both engines.
# uv cannot download an interpreter from the package registries: never let it try.
# The machine's own certificate store: behind a company proxy its CA is there, not in uv's bundle.
export UV_SYSTEM_CERTS="${UV_SYSTEM_CERTS:-1}"
if ! UV_PYTHON_DOWNLOADS=never "$uv" sync --frozen --extra spark --python "$python_path" >&2; then
    say ""
    say "error: creating .venv from uv.lock failed (see the lines above)."
    if ! command -v cc >/dev/null 2>&1; then
        say "If a package failed to build, this machine has no C compiler; install one with:"
        say "    sudo apt-get install build-essential python3-dev"
    fi
    exit 1
fi

say "Environment ready: $root/.venv (Python $version from $python_path; uv: $uv)"
