//! Kernel modules from the image's `/lib/modules/$(uname -r)`, loaded with finit_module in
//! dependency order (modules.dep), softdeps (modules.softdep) honoured. A floor below
//! `stage/` and `role/`: the boot and the `modprobe` role both load modules.
use crate::out::Line;
use crate::parse::modules as dep;
use crate::sys::fs::{self, Fd, Mapping, O_DIRECTORY, O_PATH, O_RDONLY};
use crate::sys::mount::{finit_module, MODULE_INIT_COMPRESSED_FILE};
use crate::sys::cstr::until_nul;
use crate::sys::{process, Errno, OwnedFd, PathBuf};

/// The most modules an image may carry (Debian's whole kernel has about 4,000).
pub const MAX_MODULES: usize = 6144;
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Untried,
    Loading,
    Loaded,
    Failed,
}

/// The image's depmod files. A module is known by its entry number in modules.dep.
struct Index {
    /// `/lib/modules/RELEASE`, which modules.dep paths are relative to.
    dir: OwnedFd,
    dep: Mapping,
    softdep: Option<Mapping>,
    alias: Option<Mapping>,
}

pub struct Modules {
    index: Option<Index>,
    state: [State; MAX_MODULES],
    pub loaded: u32,
}

impl Modules {
    /// Reads the image's modules.dep (none at all is fine: a kernel with built-in drivers).
    pub fn new() -> Modules {
        Modules { index: Index::open(), state: [State::Untried; MAX_MODULES], loaded: 0 }
    }

    /// Loads every module the image carries, dependencies first.
    pub fn load_all(&mut self) {
        let Some(index) = &self.index else { return };
        let mut loader = Loader { index, state: &mut self.state, loaded: &mut self.loaded, by_alias: false };
        for (i, entry) in index.entries() {
            loader.load_entry(i, entry);
        }
    }

    /// Loads module `name` (a name or an alias) and what it needs; false if it is unknown.
    pub fn load(&mut self, name: &[u8]) -> bool {
        let Some(index) = &self.index else { return false };
        Loader { index, state: &mut self.state, loaded: &mut self.loaded, by_alias: false }.load(name, true)
    }

    /// Loads the driver of filesystem `fstype` (its `fs-TYPE` alias) before a mount, so the
    /// kernel finds it registered and need not run a modprobe helper process for it.
    pub fn load_fs(&mut self, fstype: &[u8]) {
        let mut alias = PathBuf::<256>::new();
        if alias.push(b"fs-").and_then(|a| a.push(fstype)).is_ok() {
            self.load(alias.as_bytes());
        }
    }
}

impl Default for Modules {
    fn default() -> Self {
        Self::new()
    }
}

impl Index {
    // Out of line: smaller so (measured: aarch64 -8 B, x86_64 -40 B).
    #[inline(never)]
    fn open() -> Option<Index> {
        let mut release = [0u8; 65];
        process::kernel_release(&mut release);
        // The buffer was zeroed and the release is at most 64 bytes: it stays NUL-terminated.
        let release = until_nul(&release);
        let opened = fs::open(c"/lib/modules", O_PATH | O_DIRECTORY)
            .and_then(|all| fs::openat(all.fd(), release, O_PATH | O_DIRECTORY, 0))
            .and_then(|d| Ok((Mapping::open(d.fd(), c"modules.dep")?, d)));
        let (dep, dir_fd) = match opened {
            Ok(both) => both,
            Err(Errno::NOENT) => return None,
            Err(e) => {
                // As crate::report words it; the path itself is never built.
                error!("read /lib/modules/%s/modules.dep: %e", release.to_bytes(); e);
                return None;
            }
        };
        let softdep = Mapping::open(dir_fd.fd(), c"modules.softdep").ok();
        let alias = Mapping::open(dir_fd.fd(), c"modules.alias").ok();
        let index = Index { dir: dir_fd, dep, softdep, alias };
        if index.entries().count() > MAX_MODULES {
            warning!("more than %n modules in modules.dep; ignoring the rest"; MAX_MODULES as u64);
        }
        Some(index)
    }

    /// The modules.dep entries with their numbers; those from `MAX_MODULES` on are ignored
    /// where used (not cut here: a `take` costs more code than those checks).
    fn entries(&self) -> impl Iterator<Item = (usize, dep::DepEntry<'_>)> {
        self.dep.bytes().split(|&b| b == b'\n').filter_map(dep::dep_line).enumerate()
    }
}

/// One load's view: the image's files, and the module states it changes.
struct Loader<'a> {
    index: &'a Index,
    state: &'a mut [State; MAX_MODULES],
    loaded: &'a mut u32,
    /// Loading the modules an alias names (and what they pull in): a module's ENODEV or
    /// ENXIO is then quiet.
    by_alias: bool,
}

impl<'a> Loader<'a> {
    /// Loads module `name` (with `alias`, also every module its alias names: at most four) and
    /// what it needs; false if none is in modules.dep. A linear scan: images carry tens of
    /// modules, and even `modules=all` is bounded by the kernel's load time.
    fn load(&mut self, name: &[u8], alias: bool) -> bool {
        let index = self.index;
        for (i, entry) in index.entries() {
            if i < MAX_MODULES && dep::names_equal(dep::stem(entry.path), name) {
                self.load_entry(i, entry);
                return true;
            }
        }
        let mut found = false;
        if let (Some(aliases), true) = (&index.alias, alias) {
            let outer = core::mem::replace(&mut self.by_alias, true);
            for module in dep::resolve_alias(aliases.bytes(), name).take(4) {
                found |= self.load(module, false);
            }
            self.by_alias = outer;
        }
        found
    }

    /// Loads entry `i` after its softdeps and dependencies.
    fn load_entry(&mut self, i: usize, entry: dep::DepEntry<'a>) {
        // Past MAX_MODULES (warned about at open), an entry is ignored.
        let Some(s) = self.state.get_mut(i) else { return };
        if *s != State::Untried {
            return;
        }
        *s = State::Loading;
        let name = dep::stem(entry.path);
        self.soft_deps(name, true);
        // depmod lists the dependencies deepest last: load them in reverse.
        for path in entry.deps().rev() {
            self.load(dep::stem(path), false);
        }
        self.state[i] = match insert(self.index, entry.path) {
            Ok(()) => {
                *self.loaded += 1;
                State::Loaded
            }
            Err(e) => {
                // A module that finds no device of its kind, or an accelerated variant
                // refusing this CPU while another module gives the same alias
                // (crc32_arm_ce): not worth a word, as modprobe says none.
                if !(self.by_alias && matches!(e, Errno::NODEV | Errno::NXIO)) {
                    report_failure(entry.path, e);
                }
                State::Failed
            }
        };
        self.soft_deps(name, false);
    }

    fn soft_deps(&mut self, name: &[u8], pre: bool) {
        let Some(softdep) = &self.index.softdep else { return };
        for sd in dep::find_softdeps(softdep.bytes(), name) {
            let list = if pre { sd.pre() } else { sd.post() };
            for target in list {
                // A softdep that is built in or absent from the image is optional by nature.
                self.load(target, true);
            }
        }
    }
}

/// finit_module on the file; already loaded (EEXIST) counts as success.
fn insert(index: &Index, path: &[u8]) -> Result<(), Errno> {
    let mut path_z = PathBuf::<256>::new();
    path_z.push(path)?;
    let fd = fs::openat(index.dir.fd(), path_z.as_cstr(), O_RDONLY, 0)?;
    let flags = if dep::compression(path).is_some() { MODULE_INIT_COMPRESSED_FILE } else { 0 };
    match finit_module(fd.fd(), c"", flags) {
        Err(Errno::EXIST) => Ok(()),
        other => other,
    }
}

fn report_failure(path: &[u8], e: Errno) {
    let mut line = Line::warn();
    line.s(b"module ");
    // The name as the kernel knows it: `crc32c-intel.ko` is `crc32c_intel`.
    for c in dep::stem(path) {
        line.s(if *c == b'-' { b"_" } else { core::slice::from_ref(c) });
    }
    line.s(b": ").errno(e);
    match (dep::compression(path), e) {
        (Some(c), Errno::INVAL | Errno::NOTSUP | Errno::NOSYS) => {
            let mut buf = [0u8; 16];
            let have = fs::read_file(Fd::CWD, c"/sys/module/compression", &mut buf).unwrap_or(b"none\n");
            line.s(b" (compressed with ").s(c.sys_name()).s(b"; this kernel decompresses: ").s(have.strip_suffix(b"\n").unwrap_or(have)).s(b")");
        }
        (_, Errno::NOEXEC) => {
            line.s(b" (built for another kernel?)");
        }
        (_, Errno::NOENT) => {
            line.s(b" (missing file or unknown symbol; see dmesg)");
        }
        _ => {}
    }
    line.emit();
}
