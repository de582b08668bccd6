#!/bin/sh
# The shell peer of the bench's root= rows on a kernel with everything built in (issue
# 10): a busybox-static /init doing what rdinit does for `root=/dev/NAME`, as fast as a
# shell can: mount the API filesystems, wait for the device node, mount it read-only, move
# the mounts, switch_root. No modules to load (the kernel has them built in), no tag
# lookup (root= names the device), no fsck: that is in the peer's favour.
PATH=/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mark() { echo "peer: $1" >/dev/kmsg; }
fail() {
	echo "peer: FAILED: $1"
	poweroff -f
}
mark "early mounts done"

root=
read -r cmdline </proc/cmdline
for p in $cmdline; do
	case $p in root=*) root=${p#root=} ;; esac
done
[ -n "$root" ] || fail "no root= on the command line"

# Wait for the device (built-in drivers probe before /init, but a slow disk may not).
tries=0
while [ ! -b "$root" ]; do
	tries=$((tries + 1))
	[ $tries -ge 300 ] && fail "no $root"
	sleep 0.1
done
mount -o ro "$root" /root || fail "mount $root"
mark "root mounted"

mount --move /dev /root/dev
mount --move /proc /root/proc
mount --move /sys /root/sys
echo "peer: exec /sbin/init" >/root/dev/kmsg
exec switch_root /root /sbin/init
