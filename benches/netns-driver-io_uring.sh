#!/usr/bin/env bash
# benches/netns-driver.sh with TAP ports moving frames by io_uring (vswitchd --tap-io io_uring), so that
# one harness run compares the I/O modes side by side.
export VSWITCH_TAP_IO=io_uring
exec "$(dirname "$0")/netns-driver.sh" "$@"
