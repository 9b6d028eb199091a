# shellcheck shell=bash
# Sourced by run.sh and conformance.sh (not executable): make_venv <venv dir> <requirements file> creates the venv,
# or refreshes it when the requirements file changed since it was made (a copy is kept in the venv), with $PY
# (default python3; needs >= 3.10 and venv). Exits 2 when venv creation fails.
make_venv() {
    local venv=$1 req=$2 py=${PY:-python3}
    if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/.interop-requirements.txt"; then
        if ! "$py" -m venv --clear "$venv"; then
            echo "$(basename "$0"): '$py -m venv' failed (on Debian: apt-get install python3-venv)" >&2
            exit 2
        fi
        "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$req"
        cp "$req" "$venv/.interop-requirements.txt"
    fi
}
