# Sourced by scripts and benchmarks (not run): finds the system programs they start on this machine
# rather than at one distribution's paths; a missing one fails naming the Debian package to install.

# find_program NAME [FOLDER...]: the path of NAME from PATH, else from FOLDERs, else from the
# system folders a non-root PATH often lacks (nginx, haproxy, runuser); status 1 when there is none.
find_program() {
    local name="$1" folder
    shift
    if command -v "$name" 2>/dev/null | grep -q /; then command -v "$name"; return 0; fi
    for folder in "$@" /usr/local/sbin /usr/sbin /sbin; do
        [ -x "$folder/$name" ] && { echo "$folder/$name"; return 0; }
    done
    return 1
}

# need_program NAME PACKAGE [FOLDER...]: as find_program, or an error naming the Debian PACKAGE.
need_program() {
    local name="$1" package="$2"
    shift 2
    find_program "$name" "$@" || { echo "$name not found in PATH: install the Debian package $package" >&2; return 1; }
}

# postgres_program NAME: a PostgreSQL server program (initdb, pg_ctl) from PATH, else from
# `pg_config --bindir` (Debian keeps them in a versioned folder outside PATH).
postgres_program() {
    need_program "$1" postgresql $(pg_config --bindir 2>/dev/null)
}
