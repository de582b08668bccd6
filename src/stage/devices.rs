//! Block devices: found by a sysfs scan and by uevents, identified by their superblocks and
//! partition tables, waited for without polling.
use crate::out::Line;
use crate::parse::cmdline::{label_matches, DeviceSpec, Wait};
use crate::parse::partition;
use crate::parse::superblock::{self, Superblock};
use crate::parse::text::Text;
use crate::parse::uevent;
use crate::sys::fs::{self, Dir, Fd, O_RDONLY};
use crate::sys::{net, process, Errno, OwnedFd, PathBuf};
use crate::kmod::Modules;
use heapless::Vec;

/// How many block devices are remembered; more are reported once and ignored.
pub const MAX_DEVICES: usize = 64;
/// How long rdinit waits for a device when the command line does not say (seconds).
pub const DEFAULT_WAIT_S: u32 = 30;

/// What identifies a partition (from its disk's GPT or MBR); all empty with `number` 0 for
/// a device that is no partition (or whose table could not be read).
#[derive(Clone, Default)]
pub struct PartId {
    /// The whole disk's device name (`vda` for `vda2`).
    pub disk: Text<32>,
    /// From 1, as the kernel numbers partitions; 0: not a partition.
    pub number: u32,
    pub partuuid: Text<36>,
    pub partlabel: Text<36>,
}

/// One block device seen, with what probing found (probed once, on first need).
pub struct BlockDev {
    pub name: Text<32>,
    pub major: u32,
    pub minor: u32,
    probed: bool,
    pub sb: Option<Superblock>,
    pub part: PartId,
}

impl BlockDev {
    /// `/dev/NAME`.
    pub fn path(&self) -> PathBuf<256> {
        dev_path(self.name.as_bytes())
    }
}

pub struct Devices {
    sock: Option<OwnedFd>,
    /// Drivers are loaded as devices show up (their MODALIAS), like udev's coldplug.
    pub modules: Modules,
    pub list: Vec<BlockDev, MAX_DEVICES>,
    full_reported: bool,
}

impl Devices {
    /// Binds the uevent socket: call before loading drivers, so no event is missed.
    pub fn new() -> Devices {
        let sock = match net::uevent_socket() {
            Ok(s) => Some(s),
            Err(e) => {
                warning!("uevent socket: %e; rescanning /sys/class/block instead"; e);
                None
            }
        };
        Devices { sock, modules: Modules::new(), list: Vec::new(), full_reported: false }
    }

    /// Loads the drivers of every device already present: each `modalias` under
    /// /sys/bus/*/devices/ matched against the image's modules.alias. Devices those drivers
    /// create arrive as uevents and are handled by `wait_events`.
    pub fn coldplug(&mut self) {
        self.load_present_drivers();
        self.drain_events();
    }

    /// What the uevents of a lost burst would have said, read back from sysfs: the drivers
    /// of every device present, then every block device.
    fn rescan(&mut self) {
        self.load_present_drivers();
        self.scan();
    }

    // Out of line: inlined into `stage::boot` it costs aarch64 128 bytes, x86_64 32 (measured).
    #[inline(never)]
    fn load_present_drivers(&mut self) {
        let mut buses = Dir::open(c"/sys/bus");
        let mut dir = PathBuf::<256>::new();
        while let Ok(Some(bus)) = buses.next_entry() {
            dir.truncate(0);
            if dir.push(b"/sys/bus/").and_then(|d| d.push(bus.name())).and_then(|d| d.push(b"/devices")).is_err() {
                continue;
            }
            let mut devs = Dir::open(dir.as_cstr());
            while let Ok(Some(dev)) = devs.next_entry() {
                let mut buf = [0u8; 256];
                if let Some(alias) = read_sysfs(&[dir.as_bytes(), b"/", dev.name(), b"/modalias"], &mut buf) {
                    self.modules.load(alias);
                }
            }
        }
    }

    /// Handles every queued uevent without waiting.
    pub fn drain_events(&mut self) {
        self.wait_events(0);
    }

    /// Adds every block device in /sys/class/block not yet known.
    pub fn scan(&mut self) {
        let mut dir = Dir::open(c"/sys/class/block");
        while let Ok(Some(entry)) = dir.next_entry() {
            let mut buf = [0u8; 24];
            let Some(text) = read_sysfs(&[b"/sys/class/block/", entry.name(), b"/dev"], &mut buf) else { continue };
            let (major, minor) = parse_dev(text);
            self.add(entry.name(), major, minor, false);
        }
    }

    /// Remembers a block device; `new_media` (a `change` uevent) makes a known one be
    /// probed afresh, while a rescan of a known one changes nothing.
    fn add(&mut self, name: &[u8], major: u32, minor: u32, new_media: bool) {
        if let Some(dev) = self.list.iter_mut().find(|d| d.name.as_bytes() == name) {
            dev.probed &= !new_media;
            return;
        }
        let dev = BlockDev { name: Text::from_bytes(name), major, minor, probed: false, sb: None, part: PartId::default() };
        if self.list.push(dev).is_err() && !self.full_reported {
            self.full_reported = true;
            warning!("more than %n block devices; ignoring %s and later ones", name; MAX_DEVICES as u64);
        }
    }

    /// Reads queued uevents, adding block devices; waits up to `timeout_ms` for the first.
    pub fn wait_events(&mut self, timeout_ms: u32) {
        let Some(sock) = &self.sock else {
            process::sleep_ms(timeout_ms.min(250) as u64);
            self.scan();
            return;
        };
        let fd = sock.fd();
        if !matches!(net::poll_readable(fd, timeout_ms), Ok(true)) {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            let n = match net::recv(fd, &mut buf) {
                Ok(n) => n,
                // The receive buffer overflowed and the kernel dropped events (a driver
                // that made thousands of devices at once): sysfs still has what they said.
                // Reading goes on after the rescan, as the queue still holds later events.
                Err(Errno::NOBUFS) => {
                    warning!("uevents were lost (receive buffer full); rescanning /sys");
                    self.rescan();
                    continue;
                }
                // AGAIN: the queue is empty.
                Err(_) => break,
            };
            let Some(ev) = uevent::parse(&buf[..n]) else { continue };
            // A `change` of a block device is new media in it.
            let new_media = match ev.action {
                uevent::Action::Add => {
                    if let Some(alias) = ev.modalias {
                        self.modules.load(alias);
                    }
                    false
                }
                uevent::Action::Change => true,
                _ => continue,
            };
            if ev.subsystem != Some(b"block") {
                continue;
            }
            if let (Some(name), Some(major), Some(minor)) = (ev.devname, ev.major, ev.minor) {
                self.add(name, major, minor, new_media);
            }
        }
    }

    /// Probes device `i` once: superblock, and partition identity from its disk.
    pub fn probe(&mut self, i: usize) {
        let Some(dev) = self.list.get_mut(i) else { return };
        if dev.probed {
            return;
        }
        dev.probed = true;
        // Unused loop and ram devices have no media; probing them only costs time.
        let name = dev.name.as_bytes();
        if name.starts_with(b"loop") || name.starts_with(b"ram") {
            return;
        }
        let mut head = [0u8; superblock::PROBE_LEN];
        if let Some(fd) = open_dev(name) {
            // A read error (a bad sector, a failing disk) is named: without this line the
            // device would only seem to hold no known filesystem.
            let n = fs::read_full(fd.fd(), &mut head).unwrap_or_else(|e| {
                warning!("%s: cannot read the superblock: %e", name; e);
                0
            });
            dev.sb = superblock::probe(&head[..n]);
        }
        partition_id(dev.name.as_bytes(), &mut dev.part);
    }

    /// The index of the device `spec` names, if it is here now.
    pub fn find(&mut self, spec: &DeviceSpec) -> Option<usize> {
        for i in 0..self.list.len() {
            if let Some(found) = self.matches(i, spec) {
                return Some(found);
            }
        }
        None
    }

    /// Does device `i` match `spec` (probing it if the spec needs its contents)?
    pub fn is_match(&mut self, i: usize, spec: &DeviceSpec) -> bool {
        self.matches(i, spec) == Some(i)
    }

    fn matches(&mut self, i: usize, spec: &DeviceSpec) -> Option<usize> {
        let dev = self.list.get(i)?;
        let hit = match *spec {
            DeviceSpec::Path(p) => p.strip_prefix(b"/dev/").unwrap_or(p) == dev.name.as_bytes(),
            DeviceSpec::MajMin(ma, mi) => dev.major == ma && dev.minor == mi,
            _ => {
                self.probe(i);
                let dev = self.list.get(i)?;
                let sb = dev.sb.as_ref();
                // Spec values are never empty, so a non-partition's empty fields match none.
                let part = &dev.part;
                match *spec {
                    DeviceSpec::Uuid(u) => sb.is_some_and(|s| superblock::uuid_eq(s.uuid.as_bytes(), u)),
                    DeviceSpec::Label(l) | DeviceSpec::PartLabel(l) => {
                        let name = match spec {
                            DeviceSpec::Label(_) => sb.map_or(&[][..], |s| s.label.as_bytes()),
                            _ => part.partlabel.as_bytes(),
                        };
                        label_matches(l, name)
                    }
                    DeviceSpec::PartUuid(u, offset) => {
                        if superblock::uuid_eq(part.partuuid.as_bytes(), u) {
                            return self.sibling(i, offset);
                        }
                        false
                    }
                    _ => false,
                }
            }
        };
        hit.then_some(i)
    }

    /// `PARTNROFF=`: the partition `offset` numbers after device `i` on the same disk.
    fn sibling(&mut self, i: usize, offset: i32) -> Option<usize> {
        if offset == 0 {
            return Some(i);
        }
        let want = self.list.get(i)?.part.number as i64 + offset as i64;
        for j in 0..self.list.len() {
            self.probe(j);
            let (part, other) = (&self.list.get(i)?.part, &self.list.get(j)?.part);
            if other.number != 0 && other.number as i64 == want && other.disk.as_bytes() == part.disk.as_bytes() {
                return Some(j);
            }
        }
        None
    }

    /// Waits for the device `spec` names: scan first, then uevents until `wait` runs out.
    pub fn wait_for(&mut self, spec: &DeviceSpec, wait: Wait) -> Option<usize> {
        self.scan();
        let start = process::boottime_ms();
        let limit_ms = wait_limit_ms(wait);
        let mut announced = false;
        loop {
            if let Some(i) = self.find(spec) {
                return Some(i);
            }
            let waited = process::boottime_ms() - start;
            if waited >= limit_ms {
                return None;
            }
            if !announced {
                announced = true;
                info!("waiting for %s", spec_text(spec));
            }
            self.wait_events((limit_ms - waited).min(1000) as u32);
        }
    }

    /// Lists every device with what it holds, for the failure report.
    pub fn report(&mut self) {
        self.scan();
        if self.list.is_empty() {
            error!("no block devices at all (storage driver missing from the image?)");
        }
        for i in 0..self.list.len() {
            self.probe(i);
            let Some(dev) = self.list.get(i) else { break };
            let name = dev.name.as_bytes();
            if (name.starts_with(b"loop") || name.starts_with(b"ram")) && dev.sb.is_none() {
                continue;
            }
            let mut line = Line::err();
            line.s(b"seen ").s(name).s(b" ");
            match &dev.sb {
                Some(sb) => line.s(sb.fstype.name()).s(b" label=").s(sb.label.as_bytes()).s(b" uuid=").s(sb.uuid.as_bytes()),
                None => line.s(b"? (no known filesystem)"),
            };
            let p = &dev.part;
            if p.number != 0 {
                line.s(b" partuuid=").s(p.partuuid.as_bytes());
                if !p.partlabel.is_empty() {
                    line.s(b" partlabel=").s(p.partlabel.as_bytes());
                }
            }
            line.emit();
        }
    }
}

impl Default for Devices {
    fn default() -> Self {
        Self::new()
    }
}

/// How long `rootwait` lets a device search take, in milliseconds (`u64::MAX`: forever).
// Out of line: inlined at its three callers it costs aarch64 56 bytes (measured; x86_64 0).
#[inline(never)]
pub fn wait_limit_ms(wait: Wait) -> u64 {
    match wait {
        Wait::Default => DEFAULT_WAIT_S as u64 * 1000,
        Wait::Seconds(s) => s as u64 * 1000,
        Wait::Forever => u64::MAX,
    }
}

/// The spec as the user wrote it is not kept; this gives a readable form for messages.
pub fn spec_text<'a>(spec: &DeviceSpec<'a>) -> &'a [u8] {
    match *spec {
        DeviceSpec::Path(p) | DeviceSpec::Uuid(p) | DeviceSpec::Label(p) | DeviceSpec::PartUuid(p, _) | DeviceSpec::PartLabel(p) => p,
        DeviceSpec::MajMin(..) => b"the MAJ:MIN device",
    }
}

/// The sysfs file `parts` name, without its newline; `None` if it cannot be read.
fn read_sysfs<'a>(parts: &[&[u8]], buf: &'a mut [u8]) -> Option<&'a [u8]> {
    let mut path = PathBuf::<256>::new();
    for part in parts {
        path.push(part).ok()?;
    }
    let text = fs::read_file(Fd::CWD, path.as_cstr(), buf).ok()?;
    Some(text.strip_suffix(b"\n").unwrap_or(text))
}

/// `MAJ:MIN` from a sysfs `dev` file.
fn parse_dev(text: &[u8]) -> (u32, u32) {
    let colon = text.iter().position(|&b| b == b':').unwrap_or(text.len());
    let (major, minor) = text.split_at(colon);
    let number = |s: &[u8]| crate::parse::cmdline::parse_u32(s).unwrap_or(0);
    (number(major), minor.get(1..).map_or(0, number))
}

/// `/dev/NAME` (names are `Text<32>`: it always fits).
fn dev_path(name: &[u8]) -> PathBuf<256> {
    let mut path = PathBuf::new();
    let _ = path.push(b"/dev/").and_then(|p| p.push(name));
    path
}

/// `/dev/NAME`, opened for reading.
fn open_dev(name: &[u8]) -> Option<OwnedFd> {
    fs::open(dev_path(name).as_cstr(), O_RDONLY).ok()
}

/// Fills `part` from the partition device `name`'s sysfs entry and its disk's table; its
/// `number` is set last, so it stays 0 unless all of it was found.
fn partition_id(name: &[u8], part: &mut PartId) -> Option<()> {
    // A `change` uevent re-probes: nothing of the old table may survive.
    part.number = 0;
    part.partuuid.clear();
    part.partlabel.clear();
    let mut buf = [0u8; 256];
    let number = crate::parse::cmdline::parse_u32(read_sysfs(&[b"/sys/class/block/", name, b"/partition"], &mut buf)?)?;
    // The sysfs link ends in …/block/vda/vda1: its second-to-last component is the disk.
    let mut path = PathBuf::<256>::new();
    path.push(b"/sys/class/block/").and_then(|p| p.push(name)).ok()?;
    let link = fs::readlinkat(Fd::CWD, path.as_cstr(), &mut buf).ok()?;
    let disk = link.rsplit(|&b| b == b'/').nth(1)?;
    part.disk.clear();
    part.disk.extend(disk);
    let fd = open_dev(part.disk.as_bytes())?;
    // Sector 0 (MBR) and a GPT header at LBA 1 of 512- or 4096-byte sectors.
    let mut head = [0u8; 4608];
    fs::read_full(fd.fd(), &mut head).ok()?;
    match partition::mbr_signature(&head) {
        Some(sig) => partition::mbr_partuuid(sig, number, &mut part.partuuid),
        None => {
            let (h, sector) = [512usize, 4096].iter().find_map(|&s| Some((partition::gpt_header(head.get(s..)?)?, s as u64)))?;
            let mut raw = [0u8; 128];
            let at = h.entries_lba * sector + number.checked_sub(1)? as u64 * h.entry_size as u64;
            fs::pread(fd.fd(), &mut raw, at).ok()?;
            partition::gpt_entry_ids(&raw, &mut part.partuuid, &mut part.partlabel)?;
        }
    }
    part.number = number;
    Some(())
}
