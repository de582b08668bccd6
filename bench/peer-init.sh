#!/bin/sh
# The shell peer of `cargo xtask bench`: a busybox-static /init doing rdinit's Slax-style
# live boot, written to be as fast as a shell can be. Same kernel, same modules, same media.
#
# Choices made for speed, all of which a careful shell author would make too:
# - the module load order is computed when the image is built (/etc/bench-modules, one
#   path a line, dependencies and softdeps first): no modprobe, no modules.dep parsing here;
# - builtins wherever possible (read, echo, test, case, arithmetic); every applet call is a
#   fork, so mount points are made with one mkdir and nothing is run in $(...);
# - disks from /proc/partitions (no sysfs walk, no blkid), data mounted read-only;
# - `-t squashfs` on the bundle mounts (no type probing), one overlay mount with short
#   relative layer names (500 layers fit one page), switch_root without a copy of the
#   initramfs. It does not keep /run/initramfs or Slax's memory/ layout, which rdinit does:
#   that is in the peer's favour.
# What it cannot change: busybox 1.35's loop setup (LOOP_SET_FD + LOOP_SET_STATUS64 per
# device) and one fork+exec of busybox per module and per bundle.
PATH=/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Stage marks to the kernel log: builtin echo, timestamped by printk.
mark() { echo "peer: $1" >/dev/kmsg; }
# Failure ends the boot at once (a real init would start a rescue shell here).
fail() {
	echo "peer: FAILED: $1"
	poweroff -f
}
mark "early mounts done"

while read -r m; do insmod "$m"; done </etc/bench-modules
mark "modules loaded"

live=slax
read -r cmdline </proc/cmdline
for p in $cmdline; do
	case $p in live=*) live=${p#live=} ;; esac
done

# memory: data (the boot disk), b/N (bundle N), ch (changes), u (the union).
mount -t tmpfs -o mode=0755 tmpfs /mnt
mkdir /mnt/data /mnt/b /mnt/ch /mnt/ch/upper /mnt/ch/work /mnt/u

# Find the disk holding the data directory; wait for slow ones (USB, NVMe) up to 30 s.
found=
tries=0
while :; do
	while read -r major minor blocks name; do
		case $major in '' | *[!0-9]*) continue ;; esac
		case $name in loop* | ram*) continue ;; esac
		mount -o ro "/dev/$name" /mnt/data 2>/dev/null || continue
		if [ -d "/mnt/data/$live" ]; then
			found=$name
			break
		fi
		umount /mnt/data
	done </proc/partitions
	[ -n "$found" ] && break
	tries=$((tries + 1))
	if [ $tries -ge 300 ]; then
		fail "no disk holds /$live"
	fi
	sleep 0.1
done
mark "data found on $found"

# Bundles: *.sb, then modules/*.sb, in name order; later bundles on top.
data=/mnt/data/$live
n=0
dirs=
for f in "$data"/*.sb "$data"/modules/*.sb; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	dirs="$dirs $n"
done
if [ $n -eq 0 ]; then
	fail "no bundles in $data"
fi
cd /mnt/b || fail "no /mnt/b"
mkdir $dirs
n=0
lower=
for f in "$data"/*.sb "$data"/modules/*.sb; do
	[ -e "$f" ] || continue
	n=$((n + 1))
	mount -t squashfs -o loop,ro "$f" $n && lower=$n${lower:+:$lower}
done
mark "bundles mounted"

mount -t overlay overlay -o "lowerdir=$lower,upperdir=/mnt/ch/upper,workdir=/mnt/ch/work" /mnt/u || fail "overlay mount"
mark "union mounted"

cd /
mount --move /dev /mnt/u/dev
mount --move /proc /mnt/u/proc
mount --move /sys /mnt/u/sys
# /dev has moved: the mark goes through its new place.
echo "peer: exec /sbin/init" >/mnt/u/dev/kmsg
exec switch_root /mnt/u /sbin/init
