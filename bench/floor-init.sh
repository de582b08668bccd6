#!/bin/sh
# The module floor of `cargo xtask bench`: /init loads the benchmark's module set, in
# dependency order, and writes the marker. Nothing else happens before the marker (the
# image carries a /dev/kmsg node, so no mount is needed). /etc/bench-modules is written by
# the bench: one module path a line, dependencies (and softdeps) first.
while read -r m; do insmod "$m"; done </etc/bench-modules
echo BENCH-REAL-INIT >/dev/kmsg
# Reporting, outside the measurement.
mount -t proc proc /proc
mods=
while read -r name rest; do mods="$mods $name"; done </proc/modules
echo "BENCH modules=${mods# }"
echo "BENCH bundles=0"
echo "BENCH done"
poweroff -f
