# Sourced by the bench scripts: the sipwarden configuration they all measure with.
# sipwarden_config DATA_DIR WORKERS LISTEN... -> the TOML on stdout: the given data directory,
# workers and listeners ("udp:127.0.0.1:5060"...), domain example.test, log level warn, MD5
# challenges only (SIPp answers MD5 only), and no per-address connection limit (all load comes
# from one address). SW_SYNC ["full"]: the store's synchronous setting ("normal": no sync per
# commit, see docs/configuration.md).
sipwarden_config() {
    local data_dir=$1 workers=$2 listen="" l
    shift 2
    for l in "$@"; do listen+="${listen:+, }\"$l\""; done
    cat <<CFG
data_dir = "$data_dir"
workers = $workers
listen = [$listen]
[[domain]]
name = "example.test"
[log]
level = "warn"
[auth]
algorithms = ["MD5"]   # SIPp answers MD5 only
[transport]
max_connections_per_address = 100000
[store]
synchronous = "${SW_SYNC:-full}"
CFG
}
