#!/usr/bin/env bash
# benches/netns-driver.sh with TAP ports moving frames by syscall (vswitchd --tap-io syscall), so that
# one harness run compares the I/O modes side by side.
export VSWITCH_TAP_IO=syscall
exec "$(dirname "$0")/netns-driver.sh" "$@"
