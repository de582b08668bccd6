//! Kernel uevents, from the netlink socket (`ACTION@DEVPATH\0KEY=VAL\0…`) or from a sysfs
//! `uevent` file (`KEY=VAL\n…`, no header): one parser, so the cold-plug scan and the
//! hot-plug socket see devices the same way.

use super::cmdline::parse_u32;

/// What happened to the device.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub enum Action {
    Add,
    Remove,
    Change,
    Move,
    Online,
    Offline,
    Bind,
    Unbind,
    Other,
}

/// The words, in the order of `ACTIONS`.
const ACTION_WORDS: &[u8] = b"add remove change move online offline bind unbind";
const ACTIONS: [Action; 8] = [
    Action::Add,
    Action::Remove,
    Action::Change,
    Action::Move,
    Action::Online,
    Action::Offline,
    Action::Bind,
    Action::Unbind,
];

/// Decodes an action word; unknown words are `Other`, so newer kernels do not break us.
pub fn action(s: &[u8]) -> Action {
    let i = super::bytes::word_index(ACTION_WORDS, s);
    i.and_then(|i| ACTIONS.get(i)).copied().unwrap_or(Action::Other)
}

/// The fields rdinit uses; everything else in the message is skipped.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct Uevent<'a> {
    /// `Add` for a sysfs file: the device exists.
    pub action: Action,
    /// Under /sys, e.g. `/devices/…/block/vda`; empty for a sysfs file (the caller knows it).
    pub devpath: &'a [u8],
    pub subsystem: Option<&'a [u8]>,
    /// Node name under /dev, e.g. `vda1`.
    pub devname: Option<&'a [u8]>,
    /// `disk` or `partition` for block devices.
    pub devtype: Option<&'a [u8]>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// What to match against `modules.alias`.
    pub modalias: Option<&'a [u8]>,
    /// Partition number, for MBR PARTUUIDs.
    pub partn: Option<u32>,
    /// GPT partition name, if the kernel reports it (for PARTLABEL=).
    pub partname: Option<&'a [u8]>,
}

impl<'a> Uevent<'a> {
    /// Major and minor together, when the event names a device node.
    pub fn dev(&self) -> Option<(u32, u32)> {
        Some((self.major?, self.minor?))
    }
}

/// The keys rdinit reads; one table lookup instead of a chain of string compares.
#[derive(Clone, Copy)]
enum Key {
    Action,
    DevPath,
    Subsystem,
    DevName,
    DevType,
    Major,
    Minor,
    ModAlias,
    PartN,
    PartName,
}

/// The names, in the order of `KEYS`.
const KEY_NAMES: &[u8] = b"ACTION DEVPATH SUBSYSTEM DEVNAME DEVTYPE MAJOR MINOR MODALIAS PARTN PARTNAME";
const KEYS: [Key; 10] = [
    Key::Action,
    Key::DevPath,
    Key::Subsystem,
    Key::DevName,
    Key::DevType,
    Key::Major,
    Key::Minor,
    Key::ModAlias,
    Key::PartN,
    Key::PartName,
];

/// Parses one netlink message or sysfs `uevent` file; `None` for udev's re-broadcasts
/// (they start with `libudev`), empty input, or a first record that is neither a header
/// nor `KEY=VAL`.
pub fn parse(msg: &[u8]) -> Option<Uevent<'_>> {
    if msg.starts_with(b"libudev") {
        return None;
    }
    let mut ev = Uevent {
        action: Action::Add,
        devpath: &[],
        subsystem: None,
        devname: None,
        devtype: None,
        major: None,
        minor: None,
        modalias: None,
        partn: None,
        partname: None,
    };
    let mut first = true;
    for rec in msg.split(|&c| c == 0 || c == b'\n').filter(|r| !r.is_empty()) {
        let eq = rec.iter().position(|&c| c == b'=');
        if first {
            first = false;
            // A netlink header `ACTION@DEVPATH`; a sysfs file starts right with `KEY=VAL`.
            let at = rec.iter().position(|&c| c == b'@');
            if let Some(at) = at.filter(|&at| eq.is_none_or(|eq| at < eq)) {
                let (act, path) = rec.split_at_checked(at)?;
                let path = path.get(1..)?;
                if act.is_empty() || !path.starts_with(b"/") {
                    return None;
                }
                ev.action = action(act);
                ev.devpath = path;
                continue;
            }
            eq?;
        }
        let Some(eq) = eq else { continue };
        let (key, val) = (rec.get(..eq).unwrap_or(&[]), rec.get(eq + 1..).unwrap_or(&[]));
        let Some(&k) = super::bytes::word_index(KEY_NAMES, key).and_then(|i| KEYS.get(i)) else { continue };
        match k {
            Key::Action => ev.action = action(val),
            Key::DevPath => ev.devpath = val,
            Key::Subsystem => ev.subsystem = Some(val),
            Key::DevName => ev.devname = Some(val),
            Key::DevType => ev.devtype = Some(val),
            Key::Major => ev.major = parse_u32(val),
            Key::Minor => ev.minor = parse_u32(val),
            Key::ModAlias => ev.modalias = Some(val),
            Key::PartN => ev.partn = parse_u32(val),
            Key::PartName => ev.partname = Some(val),
        }
    }
    // No record at all: empty input.
    (!first).then_some(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/uevent/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// netlink.bin holds captured messages, each prefixed by its u32le length.
    fn netlink_messages() -> Vec<Vec<u8>> {
        let data = fixture("netlink.bin");
        let mut out = Vec::new();
        let mut rest = &data[..];
        while rest.len() >= 4 {
            let n = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
            out.push(rest[4..4 + n].to_vec());
            rest = &rest[4 + n..];
        }
        out
    }

    #[test]
    fn real_netlink_capture() {
        let msgs = netlink_messages();
        assert_eq!(msgs.len(), 5);
        let change = parse(&msgs[0]).unwrap();
        assert_eq!(change.action, Action::Change);
        assert_eq!(change.devpath, b"/devices/virtual/block/loop1");
        assert_eq!(change.subsystem, Some(&b"block"[..]));
        assert_eq!(change.dev(), Some((7, 1)));
        assert_eq!(change.devname, Some(&b"loop1"[..]));
        assert_eq!(change.devtype, Some(&b"disk"[..]));
        let vda = parse(&msgs[3]).unwrap();
        assert_eq!(vda.action, Action::Add);
        assert_eq!(vda.devpath, b"/devices/pci0000:00/0000:00:02.0/virtio1/block/vda");
        assert_eq!(vda.dev(), Some((254, 0)));
        let pci = parse(&msgs[4]).unwrap();
        assert_eq!(pci.subsystem, Some(&b"pci"[..]));
        assert_eq!(pci.modalias, Some(&b"pci:v00001AF4d00001042sv00001AF4sd00001042bc01sc80i00"[..]));
        assert_eq!(pci.dev(), None);
    }

    #[test]
    fn real_sysfs_files() {
        let vda = fixture("sysfs-block-vda");
        let e = parse(&vda).unwrap();
        assert_eq!(e.action, Action::Add);
        assert_eq!(e.devpath, b"");
        assert_eq!(e.dev(), Some((254, 0)));
        assert_eq!(e.devname, Some(&b"vda"[..]));
        let pci = fixture("sysfs-pci-virtio-blk");
        assert!(parse(&pci).unwrap().modalias.unwrap().starts_with(b"pci:v00001AF4d00001042"));
    }

    #[test]
    fn partition_event() {
        // The shape the kernel sends for a GPT partition (block/partitions/core.c).
        let m = b"add@/devices/pci0000:00/0000:00:04.0/virtio2/block/vdb/vdb1\0ACTION=add\0\
DEVPATH=/devices/pci0000:00/0000:00:04.0/virtio2/block/vdb/vdb1\0SUBSYSTEM=block\0MAJOR=254\0MINOR=17\0\
DEVNAME=vdb1\0DEVTYPE=partition\0DISKSEQ=3\0PARTN=1\0PARTNAME=slax data\0SEQNUM=1201\0";
        let e = parse(m).unwrap();
        assert_eq!(e.devtype, Some(&b"partition"[..]));
        assert_eq!(e.partn, Some(1));
        assert_eq!(e.partname, Some(&b"slax data"[..]));
        assert_eq!(e.dev(), Some((254, 17)));
    }

    #[test]
    fn odd_input() {
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"\0\0\n"), None);
        assert_eq!(parse(b"garbage"), None);
        assert_eq!(parse(b"libudev\0\xfe\xed\xca\xfe\0\0\0\0ACTION=add"), None);
        assert_eq!(parse(b"@/devices/x\0"), None);
        assert_eq!(parse(b"add@devices\0"), None);
        assert_eq!(parse(b"add@\0"), None);
        // Header only.
        let h = parse(b"remove@/devices/virtual/block/loop3").unwrap();
        assert_eq!((h.action, h.devpath, h.dev()), (Action::Remove, &b"/devices/virtual/block/loop3"[..], None));
        // Truncated in the middle of a record; bad numbers are absent, not zero.
        let t = parse(b"add@/devices/x\0MAJOR=8\0MINOR=x1\0DEVNA").unwrap();
        assert_eq!((t.major, t.minor, t.devname), (Some(8), None, None));
        assert_eq!(parse(b"bind@/devices/x").unwrap().action, Action::Bind);
        assert_eq!(parse(b"frob@/devices/x").unwrap().action, Action::Other);
        // A sysfs file with a value holding '@'.
        assert_eq!(parse(b"DEVNAME=a@b\n").unwrap().devname, Some(&b"a@b"[..]));
        assert_eq!(action(b"offline"), Action::Offline);
    }
}
