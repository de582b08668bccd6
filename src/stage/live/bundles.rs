//! The bundles: `*.sb` in the data dir, `modules/` and (with `load=`) `optional/`, in
//! natural order, each loop-mounted at `bundles/NAME` with a numbered link `l/N` to it.
use super::image::{mount_image, Image, ImageError};
use super::{set_path, Path};
use crate::out;
use crate::parse::pattern::{matches_any, natural_cmp};
use crate::stage::modules::Modules;
use crate::sys::fs::{self, Dir, Fd, FileType};
use crate::sys::Errno;
use core::ffi::CStr;

/// overlayfs's limit on lower layers.
pub(super) const MAX_BUNDLES: usize = 500;

/// Bundle files considered before sorting (the ones past MAX_BUNDLES are refused by name).
pub(super) const MAX_CANDIDATES: usize = 1024;

/// Bytes for all candidate bundle names.
pub(super) const NAMES_ARENA: usize = 160 * 1024;

/// Where a bundle file sits inside the data directory.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Place {
    Top,
    Modules,
    Optional,
}

impl Place {
    fn subdir(self) -> &'static [u8] {
        match self {
            Place::Top => b"",
            Place::Modules => b"modules/",
            Place::Optional => b"optional/",
        }
    }

    fn dir(self) -> &'static CStr {
        match self {
            Place::Top => c".",
            Place::Modules => c"modules",
            Place::Optional => c"optional",
        }
    }
}

#[derive(Clone, Copy)]
pub(super) struct Candidate {
    pub(super) place: Place,
    pub(super) start: u32,
    pub(super) len: u16,
}

/// The bundle file names found, in a fixed arena.
pub(super) struct Bundles {
    pub(super) arena: [u8; NAMES_ARENA],
    pub(super) used: usize,
    pub(super) items: [Candidate; MAX_CANDIDATES],
    pub(super) count: usize,
    pub(super) dropped: usize,
}

impl Bundles {
    pub(super) fn name(&self, c: &Candidate) -> &[u8] {
        &self.arena[c.start as usize..c.start as usize + c.len as usize]
    }

    /// The bundle's path relative to the data dir.
    pub(super) fn rel_path(&self, c: &Candidate, path: &mut Path) -> Result<(), Errno> {
        set_path(path, &[c.place.subdir(), self.name(c)])
    }

    pub(super) fn add(&mut self, place: Place, name: &[u8]) {
        if self.count == MAX_CANDIDATES || self.used + name.len() > NAMES_ARENA {
            self.dropped += 1;
            return;
        }
        self.arena[self.used..self.used + name.len()].copy_from_slice(name);
        self.items[self.count] = Candidate { place, start: self.used as u32, len: name.len() as u16 };
        self.used += name.len();
        self.count += 1;
    }

    /// Lists `*.sb` in one subdirectory of the data dir, filtered by `load=`/`noload=`.
    pub(super) fn collect(&mut self, data: Fd, place: Place, load: Option<&[u8]>, noload: Option<&[u8]>) {
        let Ok(mut dir) = Dir::open_at(data, place.dir()) else { return };
        while let Ok(Some(e)) = dir.next_entry() {
            let name = e.name();
            if !name.ends_with(b".sb") || e.kind == FileType::Dir {
                continue;
            }
            let wanted = match place {
                // load= picks from optional/; noload= drops from the default set.
                Place::Optional => load.is_some_and(|l| matches_any(l, name)),
                _ => !noload.is_some_and(|l| matches_any(l, name)),
            };
            if wanted {
                self.add(place, name);
            }
        }
    }

    /// Shell sort by (place, natural name order): a few hundred bytes of code where
    /// core's sort costs kilobytes, and fast enough for 1,024 names.
    pub(super) fn sort(&mut self) {
        let n = self.count;
        let mut gap = n / 2;
        while gap > 0 {
            for i in gap..n {
                let mut j = i;
                while j >= gap && self.before(j, j - gap) {
                    self.items.swap(j, j - gap);
                    j -= gap;
                }
            }
            gap /= 2;
        }
    }

    fn before(&self, a: usize, b: usize) -> bool {
        let (x, y) = (&self.items[a], &self.items[b]);
        x.place.cmp(&y.place).then_with(|| natural_cmp(self.name(x), self.name(y))).is_lt()
    }
}

/// Undoes [`mount_bundles`]: every mount under `bundles/`.
pub(super) fn undo() {
    let Ok(mut dir) = Dir::open(c"bundles") else { return };
    let mut target = Path::new();
    while let Ok(Some(e)) = dir.next_entry() {
        if set_path(&mut target, &[b"bundles/", e.name()]).is_ok() {
            super::detach(&[target.as_cstr()]);
        }
    }
}

/// Mounts each bundle at bundles/NAME with a numbered link l/N to it; returns how many are
/// mounted (failures are skipped and named; past overlayfs's limit, refused and named).
pub(super) fn mount_bundles(source: Fd, bundles: &Bundles, modules: &mut Modules) -> usize {
    let mut mounted = 0;
    let (mut file, mut target) = (Path::new(), Path::new());
    for c in &bundles.items[..bundles.count] {
        let name = bundles.name(c);
        if mounted == MAX_BUNDLES {
            error!("bundle %s refused: overlayfs takes at most %n layers", name; MAX_BUNDLES);
            continue;
        }
        match mount_bundle(&mut file, &mut target, source, bundles, c, modules) {
            Ok(()) => {
                // l/N → ../bundles/NAME, in the two buffers.
                let mut digits = [0u8; 20];
                if set_path(&mut file, &[b"../", target.as_bytes()]).and(set_path(&mut target, &[b"l/", out::format_u64(mounted as u64, &mut digits)])).is_ok() {
                    let _ = fs::symlinkat(file.as_cstr(), Fd::CWD, target.as_cstr());
                }
                mounted += 1;
            }
            Err((why, None)) => error!("skipping bundle %s: %s", name, why),
            Err((why, Some(e))) => error!("skipping bundle %s: %s%e (corrupt or truncated?)", name, why; e),
        }
    }
    if bundles.dropped > 0 {
        const _: () = assert!(MAX_CANDIDATES == 1024, "the message below names the limit");
        error!("%n more bundle files ignored (over 1024 candidates)"; bundles.dropped);
    }
    mounted
}

/// Loop-mounts bundle `c` of the directory `source` at `target` (bundles/NAME), `file`
/// holding its path; on failure, the reason and the error behind it.
pub(super) fn mount_bundle(file: &mut Path, target: &mut Path, source: Fd, bundles: &Bundles, c: &Candidate, modules: &mut Modules) -> Result<(), (&'static [u8], Option<Errno>)> {
    if bundles.rel_path(c, file).and(set_path(target, &[b"bundles/", bundles.name(c)])).is_err() {
        return Err((b"name too long", None));
    }
    mount_image(source, file.as_cstr(), target.as_cstr(), Image::Bundle, modules).map_err(|e| match e {
        ImageError::Open(e) => (&b"open: "[..], Some(e)),
        ImageError::NotImage => (&b"not a squashfs or erofs image"[..], None),
        ImageError::Mkdir(e) => (&b"mkdir: "[..], Some(e)),
        ImageError::Mount(e) => (&b"mount: "[..], Some(e)),
    })
}
