# Sourced by the tests/kvm scripts: what they need before they start.

cache="${KRR_CACHE:-$HOME/.cache/krr}"

# Exits 77 (Meson's "skipped") when /dev/kvm cannot be used here.
skip_without_kvm() {
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
        echo "SKIPPED: /dev/kvm is not usable here"
        exit 77
    fi
}

# Fails when ./scripts/setup has not put the default guest kernel in the cache.
require_default_kernel() {
    if [ ! -e "$cache/kernels/default/vmlinuz" ]; then
        echo "FAIL: no default guest kernel in $cache; run ./scripts/setup"
        exit 1
    fi
}
