#!/bin/sh
# The "real init" of every `cargo xtask bench` boot: /sbin/init in the base bundle of the
# live media and on the root= disk. Its first act is the marker whose printk timestamp ends
# the measured interval; everything after it is reporting, outside the measurement.
if [ -c /dev/kmsg ]; then
	echo BENCH-REAL-INIT >/dev/kmsg
else
	# The initramfs did not hand over /dev: mount it, mark, and say so (the bench flags it).
	mount -t devtmpfs devtmpfs /dev
	echo BENCH-REAL-INIT >/dev/kmsg
	echo "BENCH warn=dev-not-handed-over"
fi
PATH=/bin:/sbin
export PATH
[ -r /proc/uptime ] || mount -t proc proc /proc
read -r up idle </proc/uptime
echo "BENCH uptime=$up"
# Every bundle carries /etc/bench/b-NNNN: the count proves all layers are in the union.
set -- /etc/bench/b-*
echo "BENCH bundles=$#"
mods=
while read -r name rest; do mods="$mods $name"; done </proc/modules
echo "BENCH modules=${mods# }"
root="?"
while read -r src mnt fstype rest; do [ "$mnt" = / ] && root="$src $fstype"; done </proc/mounts
echo "BENCH root=$root"
echo "BENCH pid=$$"
echo "BENCH done"
poweroff -f
while :; do sleep 3600; done
