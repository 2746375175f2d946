# Debian packages krr needs, and a function that installs the missing ones.
# Sourced by scripts/setup and scripts/test.

KRR_PACKAGES=(
    # build
    g++ meson ninja-build pkg-config
    # libraries (see README.md "Dependencies")
    libcapstone-dev libelf-dev libdwarf-dev libncurses-dev libzstd-dev libxxhash-dev
    liblzma-dev zlib1g-dev doctest-dev
    # guest provisioning (apt-get download + dpkg-deb -x; nothing installed for the guest)
    apt dpkg
    # kmod/ (kbuild against the cached headers, with the kernel's compiler) and
    # samples/bugs/ (static reproducers)
    make gcc-12 bc flex bison libc6-dev
    # tests: QEMU as the reference machine, clang for fuzz targets, tmux for TUI tests
    qemu-system-x86 clang tmux gdb
)

# Only for `./scripts/setup --syzbot-kernel` (krr kernel build, on top of the
# above): what a kernel build needs beyond what kmod/ already does.
KRR_KERNEL_BUILD_PACKAGES=(libssl-dev xz-utils perl cpio rsync)

# krr_ensure_packages [PACKAGE...]: installs the missing ones (default: KRR_PACKAGES).
krr_ensure_packages() {
    local missing=()
    local wanted=("$@")
    [ $# -eq 0 ] && wanted=("${KRR_PACKAGES[@]}")
    local p
    for p in "${wanted[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then
            sudo=(sudo)
        else
            echo "krr: set-up: missing packages (${missing[*]}) and not root; install them with apt-get" >&2
            return 1
        fi
    fi
    echo "krr: installing ${missing[*]}"
    # Package lists may be absent on a fresh machine; refresh them once if the
    # install cannot find something.
    if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}" >/tmp/krr-apt.log 2>&1; then
        "${sudo[@]}" apt-get update -q >>/tmp/krr-apt.log 2>&1 || true
        if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}" >>/tmp/krr-apt.log 2>&1; then
            echo "krr: set-up: apt-get install failed (log: /tmp/krr-apt.log)" >&2
            tail -5 /tmp/krr-apt.log >&2
            return 1
        fi
    fi
}

# Configure (once) and build. Warnings are errors, as in CI.
krr_build() {
    local dir="$1"
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" -Dwerror=true >/dev/null || return 1
    fi
    ninja -C "$dir" | grep -v '^\[' || true
    [ "${PIPESTATUS[0]}" -eq 0 ]
}
