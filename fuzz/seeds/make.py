#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/seeds/TARGET/) from tests/fixtures and the unit
tests' inputs. Run from the repository root; the output is committed, this is how it was made."""
import os, struct, shutil

FIX = "tests/fixtures"
OUT = "fuzz/seeds"

def put(target, name, data):
    os.makedirs(f"{OUT}/{target}", exist_ok=True)
    with open(f"{OUT}/{target}/{name}", "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

def fixture(path):
    return open(f"{FIX}/{path}", "rb").read()

def records(data):
    """(offset, bytes) records of a .sparse fixture."""
    out = []
    while data:
        off, n = struct.unpack("<II", data[:8])
        out.append((off, data[8:8 + n]))
        data = data[8 + n:]
    return out

def sparse(recs):
    return b"".join(struct.pack("<II", off, len(b)) + b for off, b in recs)

for target in os.listdir(OUT) if os.path.isdir(OUT) else []:
    if os.path.isdir(f"{OUT}/{target}"):
        shutil.rmtree(f"{OUT}/{target}")

# The command line: the captured lines, and the quoting cases of the unit tests.
for i, line in enumerate(fixture("cmdline/lines.txt").splitlines()):
    put("cmdline", f"line{i + 1}", line)
put("cmdline", "quoting", b'a="x y" "a=x y" "flag" a=x"y z"w a="x y =a=b a==b -- single')
put("cmdline", "devices", b"root=/dev/disk/by-partuuid/0fc63daf-01/PARTNROFF=2 from=LABEL=My\\x20Disk/slax changes=/dev/sdb1/ch.img root=0803 root=8:1 panic=-1 rootwait=5")

# Superblocks: the fixtures as they are (the target reads the .sparse format).
for f in sorted(os.listdir(f"{FIX}/superblock")):
    if f.endswith(".sparse"):
        put("superblock", f[:-len(".sparse")], fixture(f"superblock/{f}"))

# Partition tables: a flags byte (0: CRCs as they are), then a sparse head. The GPT fixture
# holds the MBR, the header at 512 and the used entries at 1024; an empty record at the end
# makes the head as long as the 128-entry table. The same GPT moved to 4096-byte sectors.
gpt = records(fixture("partition/gpt.sparse"))[0][1]
table_len = 128 * 128
put("partition", "gpt512", b"\0" + sparse([(0, gpt), (1024 + table_len - 1, b"\0")]))
put("partition", "gpt4096", b"\0" + sparse([(0, gpt[:512]), (4096, gpt[512:1024]), (8192, gpt[1024:]), (8192 + table_len - 1, b"\0")]))
put("partition", "mbr", b"\0" + fixture("partition/mbr.sparse"))

# depmod's files; the alias and softdep targets take a name to look up after a NUL.
put("modules_dep", "modules.dep", fixture("modules/modules.dep"))
alias = fixture("modules/modules.alias")
put("modules_alias", "fs-ext4", alias + b"\0fs-ext4")
put("modules_alias", "virtio-pci", alias + b"\0pci:v00001AF4d00001042sv00001AF4sd00001042bc01sc80i00")
softdep = fixture("modules/modules.softdep")
put("modules_softdep", "ext4", softdep + b"\0ext4")
put("modules_softdep", "cifs", softdep + b"\0cifs")

for f in sorted(os.listdir(f"{FIX}/mountinfo")):
    put("mountinfo", f[:-len(".txt")], fixture(f"mountinfo/{f}"))

# uevents: each captured netlink message (u32le length prefixed in the fixture), sysfs files.
data = fixture("uevent/netlink.bin")
i = 0
while len(data) >= 4:
    n = struct.unpack("<I", data[:4])[0]
    put("uevent", f"netlink{i}", data[4:4 + n])
    data = data[4 + n:]
    i += 1
for f in ["sysfs-block-vda", "sysfs-pci-virtio-blk"]:
    put("uevent", f, fixture(f"uevent/{f}"))

# /proc/PID/stat lines of the unit tests (captured on Linux 6.1), then a meminfo text.
meminfo = b"MemTotal:         502356 kB\nDirty:              4096 kB\nWriteback:           12 kB\nWritebackTmp:        7 kB\n"
put("procstat", "user", b"18184 (cat) R 18180 18180 16944 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0\n\0" + meminfo)
put("procstat", "kthread", b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0\n\0" + meminfo)
put("procstat", "parens", b"42 (a b) (c)) S 1 42 42 0 -1 4194560 5 0 0 0\n\0")

# Patterns: a pattern, a name, another name.
put("pattern", "modalias", b"pci:v00001AF4d*sv*sd*bc*sc*i*\0pci:v00001AF4d00001042sv00001AF4sd00001042bc01sc80i00\0pci:v00008086d00001237sv00000000sd00000000bc06sc00i00")
put("pattern", "bundles", b"05-*,firefox,[0-9]?-x\\*\0005-devel.sb\0010-kernel.sb")
put("pattern", "class", b"[!a-c][]x-][^\\]]*\0d]]\0002-x.sb")

# gen_init_cpio lists, as the unit tests write them.
put("pack_list", "round-trip", """\
# header
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
nod /dev/sda\t0660 0 6 b 8 0
dir /bin 0755 0 0
file /bin/busybox /usr/lib/busybox 4755 0 0 /bin/ls /bin/cat
file /a ${HOME}/bin/a${UNSET_VAR} 0755 0 0
slink /bin/sh busybox 0777 0 0
pipe /run/fifo 0644 1000 1000\r
sock /run/sock 0600 0 0
""")
