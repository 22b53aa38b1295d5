#!/usr/bin/env bash
# Prepares an Amazon Linux 2023 c5.xlarge (or any Nitro instance with
# enclaves enabled) to run the validator: nitro-cli and the allocator, a CPU
# pool and enclave memory sized from the image, vsock, systemd units for the
# enclave and the host with restart policies, and log rotation. Idempotent:
# running it again changes nothing that is already right.
#
# Usage: sudo scripts/setup-nitro-host.sh --eif FILE [--cpu-count N]
#            [--memory-mib N] [--user NAME] [--bin-dir DIR] [--config FILE] [--dry-run]
#   --eif        the enclave image (its size sizes the memory: at least 4x)
#   --cpu-count  vCPUs for the enclave (default 2; a c5.xlarge has 4)
#   --memory-mib enclave memory (default: max(4 x EIF size, 4096), as the example configuration, rounded up to 256)
#   --user       the account that runs the host (default ec2-user)
#   --bin-dir    where vram-validator is installed (default /usr/local/bin)
#   --config     the host's configuration (default /etc/vram/vram-validator.toml)
#   --dry-run    print what would be done, change nothing
set -euo pipefail

eif=""
cpu_count=2
memory_mib=""
user="ec2-user"
bin_dir="/usr/local/bin"
config="/etc/vram/vram-validator.toml"
dry_run=0
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --eif) eif="${2:?--eif needs a value}"; shift 2 ;;
        --cpu-count) cpu_count="${2:?--cpu-count needs a value}"; shift 2 ;;
        --memory-mib) memory_mib="${2:?--memory-mib needs a value}"; shift 2 ;;
        --user) user="${2:?--user needs a value}"; shift 2 ;;
        --bin-dir) bin_dir="${2:?--bin-dir needs a value}"; shift 2 ;;
        --config) config="${2:?--config needs a value}"; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        *) echo "unknown option: $1 (try --help)" >&2; exit 2 ;;
    esac
done
[ -n "$eif" ] || { echo "--eif FILE is required (try --help)" >&2; exit 2; }
[ -f "$eif" ] || { echo "$eif: no such file" >&2; exit 2; }

run() {
    if [ "$dry_run" = 1 ]; then
        printf 'would run:'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}

# Writes $2 to $1 only if it differs (idempotence), then reports it.
put_file() {
    local path="$1" content="$2"
    if [ -f "$path" ] && [ "$(cat "$path")" = "$content" ]; then
        echo "unchanged: $path"
        return 1
    fi
    if [ "$dry_run" = 1 ]; then
        echo "would write $path:"; printf '%s\n' "$content" | sed 's/^/    /'
    else
        mkdir -p "$(dirname "$path")"
        printf '%s\n' "$content" > "$path"
        echo "wrote: $path"
    fi
}

if [ "$dry_run" = 0 ] && [ "$(id -u)" -ne 0 ]; then
    echo "run as root (sudo), or with --dry-run" >&2
    exit 2
fi
if [ -r /etc/os-release ] && ! grep -q 'Amazon Linux' /etc/os-release; then
    echo "warning: written for Amazon Linux 2023; package names may differ here" >&2
fi

eif_mib=$(( ($(stat -c %s "$eif") + 1048575) / 1048576 ))
if [ -z "$memory_mib" ]; then
    memory_mib=$(( eif_mib * 4 ))
    [ "$memory_mib" -ge 4096 ] || memory_mib=4096
    memory_mib=$(( (memory_mib + 255) / 256 * 256 ))
fi
if [ "$memory_mib" -lt $(( eif_mib * 4 )) ]; then
    echo "--memory-mib $memory_mib is below 4x the image ($eif_mib MiB): nitro-cli would fail with E26" >&2
    exit 2
fi
echo "enclave: $cpu_count vCPUs, $memory_mib MiB (image $eif_mib MiB)"

echo "== packages"
if rpm -q aws-nitro-enclaves-cli >/dev/null 2>&1; then
    echo "unchanged: aws-nitro-enclaves-cli installed"
else
    run dnf install -y aws-nitro-enclaves-cli aws-nitro-enclaves-cli-devel
fi
if id -nG "$user" 2>/dev/null | grep -qw ne; then
    echo "unchanged: $user is in group ne"
else
    run usermod -aG ne "$user"
fi

echo "== allocator (CPU pool and enclave memory)"
if put_file /etc/nitro_enclaves/allocator.yaml "---
# Written by scripts/setup-nitro-host.sh
memory_mib: $memory_mib
cpu_count: $cpu_count"; then
    run systemctl restart nitro-enclaves-allocator.service
fi
run systemctl enable --now nitro-enclaves-allocator.service

echo "== systemd units"
changed=0
put_file /etc/systemd/system/vram-enclave.service "[Unit]
Description=vram enclave slot (clears stale enclaves; the host starts and supervises the enclave)
After=nitro-enclaves-allocator.service
Requires=nitro-enclaves-allocator.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/nitro-cli terminate-enclave --all
ExecStop=/usr/bin/nitro-cli terminate-enclave --all

[Install]
WantedBy=multi-user.target" && changed=1
put_file /etc/systemd/system/vram-validator.service "[Unit]
Description=vram validator host (window loop, enclave supervision)
After=network-online.target vram-enclave.service
Wants=network-online.target
Requires=vram-enclave.service

[Service]
User=$user
Environment=VRAMHUB_CONFIG=$config
EnvironmentFile=-/etc/vram/env
ExecStart=$bin_dir/vram-validator run
Restart=always
RestartSec=5
StandardOutput=append:/var/log/vram/validator.log
StandardError=append:/var/log/vram/validator.log

[Install]
WantedBy=multi-user.target" && changed=1
# The example configuration's storage: journal and the caches `run` fills
# from Walrus. Created here so the first start is not a crash loop.
run mkdir -p /var/log/vram /etc/vram /var/lib/vram/checkpoints /var/lib/vram/datasets
run chown "$user" /var/log/vram
run chown -R "$user" /var/lib/vram
if [ "$changed" = 1 ]; then
    run systemctl daemon-reload
fi
run systemctl enable vram-enclave.service vram-validator.service

echo "== log rotation"
put_file /etc/logrotate.d/vram "/var/log/vram/*.log {
    daily
    rotate 14
    compress
    missingok
    notifempty
    copytruncate
}" || true

if [ ! -f "$config" ]; then
    echo "next: write $config (vram-validator config example), put the key in /etc/vram/env"
    echo "      (VRAMHUB_MNEMONIC=... or VRAMHUB_PRIVATE_KEY=..., mode 0600), then"
    echo "      systemctl start vram-validator"
fi
echo "done"
