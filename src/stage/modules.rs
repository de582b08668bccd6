//! Kernel modules from the image's `/lib/modules/$(uname -r)`, loaded with finit_module in
//! dependency order (modules.dep), softdeps (modules.softdep) honoured.
use crate::out::Line;
use crate::parse::modules as dep;
use crate::sys::fs::{self, Fd, Mapping, O_RDONLY};
use crate::sys::mount::{finit_module, MODULE_INIT_COMPRESSED_FILE};
use crate::sys::{process, Errno, PathBuf};

/// The most modules an image may carry (Debian's whole kernel has about 4,000).
pub const MAX_MODULES: usize = 6144;
/// The most dependencies one module may list.
const MAX_DEPS: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Untried,
    Loading,
    Loaded,
    Failed,
}

/// The image's depmod files, indexed by module name.
struct Index {
    dir: PathBuf<96>,
    dep: Mapping,
    softdep: Option<Mapping>,
    alias: Option<Mapping>,
    /// Byte offset of each modules.dep entry's line.
    lines: [u32; MAX_MODULES],
    count: usize,
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
        for i in 0..index.count {
            load(index, &mut self.state, &mut self.loaded, i);
        }
    }

    /// Loads module `name` (a name or an alias) and what it needs; false if it is unknown.
    pub fn load(&mut self, name: &[u8]) -> bool {
        let Some(index) = &self.index else { return false };
        let mut found = false;
        for i in index.resolve(name).into_iter().flatten() {
            found = true;
            load(index, &mut self.state, &mut self.loaded, i);
        }
        found
    }

    /// Loads the driver of filesystem `fstype` (its `fs-TYPE` alias) before a mount, so the
    /// kernel finds it registered and need not run a modprobe helper process for it.
    pub fn load_fs(&mut self, fstype: &[u8]) {
        if let Ok(alias) = PathBuf::<32>::from_parts(&[b"fs-", fstype]) {
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
    fn open() -> Option<Index> {
        let mut release = [0u8; 65];
        let release = process::kernel_release(&mut release);
        let mut dir = PathBuf::<96>::from_parts(&[b"/lib/modules/", release, b"/"]).ok()?;
        let len = dir.len();
        dir.push(b"modules.dep").ok()?;
        let dep = match Mapping::open(Fd::CWD, dir.as_cstr()) {
            Ok(m) => m,
            Err(Errno::NOENT) => return None,
            Err(e) => {
                crate::report(b"read", dir.as_bytes(), e);
                return None;
            }
        };
        let mut map = |name: &[u8]| {
            dir.truncate(len);
            dir.push(name).ok()?;
            Mapping::open(Fd::CWD, dir.as_cstr()).ok()
        };
        let softdep = map(b"modules.softdep");
        let alias = map(b"modules.alias");
        dir.truncate(len);
        let mut index = Index { dir, dep, softdep, alias, lines: [0; MAX_MODULES], count: 0 };
        index.build();
        Some(index)
    }

    fn build(&mut self) {
        let text = self.dep.bytes();
        let mut offset = 0usize;
        for line in text.split(|&b| b == b'\n') {
            let start = offset;
            offset += line.len() + 1;
            if dep::dep_line(line).is_none() {
                continue;
            }
            if self.count == MAX_MODULES {
                warning!("more than %n modules in modules.dep; ignoring the rest"; MAX_MODULES as u64);
                break;
            }
            self.lines[self.count] = start as u32;
            self.count += 1;
        }
    }

    fn entry(&self, i: usize) -> Option<dep::DepEntry<'_>> {
        let text = self.dep.bytes().get(self.lines[i] as usize..)?;
        dep::dep_line(text.split(|&b| b == b'\n').next()?)
    }

    /// The entry number of module `name` (`-` and `_` alike). A linear scan: images carry
    /// tens of modules, and even `modules=all` is bounded by the kernel's load time.
    fn find(&self, name: &[u8]) -> Option<usize> {
        (0..self.count).find(|&i| self.entry(i).is_some_and(|e| dep::names_equal(e.name().as_bytes(), name)))
    }

    /// Entry numbers for a name or an alias (an alias may name several modules).
    fn resolve(&self, name: &[u8]) -> [Option<usize>; 4] {
        let mut out = [None; 4];
        if let Some(i) = self.find(name) {
            out[0] = Some(i);
            return out;
        }
        let Some(alias) = &self.alias else { return out };
        for (slot, module) in out.iter_mut().zip(dep::resolve_alias(alias.bytes(), name)) {
            *slot = self.find(module);
        }
        out
    }
}

/// Loads entry `i` after its softdeps and dependencies.
fn load(index: &Index, state: &mut [State; MAX_MODULES], loaded: &mut u32, i: usize) {
    if state[i] != State::Untried {
        return;
    }
    state[i] = State::Loading;
    let Some(entry) = index.entry(i) else { return };
    let name = entry.name();
    soft_deps(index, state, loaded, name.as_bytes(), true);
    // depmod lists the dependencies deepest last: load them in reverse.
    let mut deps = [0usize; MAX_DEPS];
    let mut n = 0;
    for path in entry.deps() {
        if let (Some(j), true) = (index.find(dep::module_name(path).as_bytes()), n < MAX_DEPS) {
            deps[n] = j;
            n += 1;
        }
    }
    for &j in deps[..n].iter().rev() {
        load(index, state, loaded, j);
    }
    state[i] = match insert(index, entry.path) {
        Ok(()) => {
            *loaded += 1;
            State::Loaded
        }
        Err(e) => {
            report_failure(name.as_bytes(), entry.path, e);
            State::Failed
        }
    };
    soft_deps(index, state, loaded, name.as_bytes(), false);
}

fn soft_deps(index: &Index, state: &mut [State; MAX_MODULES], loaded: &mut u32, name: &[u8], pre: bool) {
    let Some(softdep) = &index.softdep else { return };
    for sd in dep::find_softdeps(softdep.bytes(), name) {
        let list = if pre { sd.pre() } else { sd.post() };
        for target in list {
            // A softdep that is built in or absent from the image is optional by nature.
            for j in index.resolve(target).into_iter().flatten() {
                load(index, state, loaded, j);
            }
        }
    }
}

/// finit_module on the file; already loaded (EEXIST) counts as success.
fn insert(index: &Index, path: &[u8]) -> Result<(), Errno> {
    let full = PathBuf::<256>::from_parts(&[index.dir.as_bytes(), path])?;
    let fd = fs::open(full.as_cstr(), O_RDONLY)?;
    let flags = if dep::compression(path).is_some() { MODULE_INIT_COMPRESSED_FILE } else { 0 };
    match finit_module(fd.fd(), c"", flags) {
        Err(Errno::EXIST) => Ok(()),
        other => other,
    }
}

fn report_failure(name: &[u8], path: &[u8], e: Errno) {
    let mut line = Line::warn();
    line.s(b"module ").s(name).s(b": ").errno(e);
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
