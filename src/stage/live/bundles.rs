//! The bundles: `*.sb` in the data dir, `modules/` and (with `load=`) `optional/`, in
//! natural order, each loop-mounted at `bundles/NAME` with a numbered link `l/N` to it.
use crate::image::{mount_image, Image, ImageError};
use super::{set_path, Path};
use crate::out;
use crate::parse::pattern::{matches_any, natural_cmp};
use crate::kmod::Modules;
use crate::sys::fs::{self, Dir, Fd, FileType};
use crate::sys::Errno;
use core::cmp::Ordering;
use core::ffi::CStr;

/// overlayfs's limit on lower layers.
pub(super) const MAX_BUNDLES: usize = 500;

/// Bundle files considered before sorting (the ones past MAX_BUNDLES are refused by name).
pub(super) const MAX_CANDIDATES: usize = 1024;

/// Bytes for all candidate bundle names.
pub(super) const NAMES_ARENA: usize = 160 * 1024;

/// Most names a full arena's report lists (one pass over the directories each).
const MAX_NAMED_DROPS: usize = 32;

/// Where a bundle file sits inside the data directory.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Place {
    Top,
    Modules,
    Optional,
}

impl Place {
    pub(super) const ALL: [Place; 3] = [Place::Top, Place::Modules, Place::Optional];

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

    /// Adds a bundle name. When full, the names that sort first are kept (they are the ones
    /// a boot mounts): the one that sorts last, this one or a kept one, is dropped.
    pub(super) fn add(&mut self, place: Place, name: &[u8]) {
        while self.count == MAX_CANDIDATES || self.used + name.len() > NAMES_ARENA {
            self.dropped += 1;
            // Not empty: one name (at most 255 bytes) always fits.
            let last = (1..self.count).fold(0, |last, i| if self.before(last, i) { i } else { last });
            let kept = &self.items[last];
            if order((place, name), (kept.place, self.name(kept))).is_gt() {
                return;
            }
            self.remove(last);
        }
        self.arena[self.used..self.used + name.len()].copy_from_slice(name);
        self.items[self.count] = Candidate { place, start: self.used as u32, len: name.len() as u16 };
        self.used += name.len();
        self.count += 1;
    }

    /// Removes item `i`, closing the gap its name leaves in the arena.
    fn remove(&mut self, i: usize) {
        let Candidate { start, len, .. } = self.items[i];
        let (start, end) = (start as usize, start as usize + len as usize);
        crate::parse::bytes::move_down(&mut self.arena[..self.used], end, start);
        self.used -= len as usize;
        for c in &mut self.items[..self.count] {
            if c.start as usize >= end {
                c.start -= len as u32;
            }
        }
        self.count -= 1;
        self.items[i] = self.items[self.count];
    }

    /// Lists the wanted bundle files of one subdirectory of the data dir.
    pub(super) fn collect(&mut self, data: Fd, place: Place, load: Option<&[u8]>, noload: Option<&[u8]>) {
        each_wanted(data, place, load, noload, &mut |name| self.add(place, name));
    }

    /// Names, in sorted order, the files a full arena dropped: after [`Bundles::sort`], they
    /// are the wanted files that sort after the last one kept. One pass over the
    /// directories a name, so past MAX_NAMED_DROPS they are counted.
    // Out of line: smaller so (measured: aarch64 -72 B, x86_64 -56 B).
    #[inline(never)]
    pub(super) fn name_dropped(&self, data: Fd, load: Option<&[u8]>, noload: Option<&[u8]>) {
        let Some(kept) = self.items[..self.count].last().filter(|_| self.dropped > 0) else { return };
        let (mut last, mut next) = (Path::new(), Path::new());
        let mut last_place = kept.place;
        let _ = set_path(&mut last, &[self.name(kept)]);
        let mut named = 0;
        while named < self.dropped.min(MAX_NAMED_DROPS) {
            // The wanted file that sorts first after `last`.
            let mut next_place = None;
            for place in Place::ALL {
                each_wanted(data, place, load, noload, &mut |name| {
                    let after_last = order((place, name), (last_place, last.as_bytes())).is_gt();
                    if after_last && next_place.is_none_or(|p| order((place, name), (p, next.as_bytes())).is_lt()) && set_path(&mut next, &[name]).is_ok() {
                        next_place = Some(place);
                    }
                });
            }
            let Some(place) = next_place else { break };
            const _: () = assert!(MAX_CANDIDATES == 1024, "the message below names the limit");
            error!("bundle %s ignored: over 1024 bundle files", next.as_bytes());
            core::mem::swap(&mut last, &mut next);
            last_place = place;
            named += 1;
        }
        if self.dropped > named {
            error!("%n more bundle files ignored (over 1024)"; self.dropped - named);
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
        order((x.place, self.name(x)), (y.place, self.name(y))).is_lt()
    }
}

/// The bundles' order: by place, then natural name order.
fn order(a: (Place, &[u8]), b: (Place, &[u8])) -> Ordering {
    a.0.cmp(&b.0).then_with(|| natural_cmp(a.1, b.1))
}

/// Calls `f` with each `*.sb` of one subdirectory of the data dir, filtered by
/// `load=`/`noload=`.
/// (`dyn`: one body for its two callers.)
fn each_wanted(data: Fd, place: Place, load: Option<&[u8]>, noload: Option<&[u8]>, f: &mut dyn FnMut(&[u8])) {
    let mut dir = Dir::open_at(data, place.dir());
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
            f(name);
        }
    }
}

/// Undoes [`mount_bundles`]: every mount under `bundles/`.
pub(super) fn undo() {
    let mut dir = Dir::open(c"bundles");
    let mut target = Path::new();
    while let Ok(Some(e)) = dir.next_entry() {
        if set_path(&mut target, &[b"bundles/", e.name()]).is_ok() {
            super::detach(&[target.as_cstr()]);
        }
    }
}

/// Mounts each bundle at bundles/NAME with a numbered link l/N to it; returns how many are
/// mounted (failures are skipped and named; past overlayfs's limit, refused and named).
// Out of line: inlined into `assemble` it costs aarch64 72 bytes (measured; x86_64 0).
#[inline(never)]
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
            Err((MOUNT, Some(e))) => error!("skipping bundle %s: %s%e (corrupt or truncated?)", name, MOUNT; e),
            Err((why, Some(e))) => error!("skipping bundle %s: %s%e", name, why; e),
        }
    }
    mounted
}

/// The reason of a bundle whose mount failed: the image itself is bad (a read error of the
/// media shows as `read: EIO`).
const MOUNT: &[u8] = b"mount: ";

/// Loop-mounts bundle `c` of the directory `source` at `target` (bundles/NAME), `file`
/// holding its path; on failure, the reason and the error behind it.
pub(super) fn mount_bundle(file: &mut Path, target: &mut Path, source: Fd, bundles: &Bundles, c: &Candidate, modules: &mut Modules) -> Result<(), (&'static [u8], Option<Errno>)> {
    if bundles.rel_path(c, file).and(set_path(target, &[b"bundles/", bundles.name(c)])).is_err() {
        return Err((b"name too long", None));
    }
    mount_image(source, file.as_cstr(), target.as_cstr(), Image::Bundle, modules).map_err(|e| match e {
        ImageError::Open(e) => (&b"open: "[..], Some(e)),
        ImageError::Read(e) => (&b"read: "[..], Some(e)),
        ImageError::NotImage => (&b"not a squashfs or erofs image"[..], None),
        ImageError::Mkdir(e) => (&b"mkdir: "[..], Some(e)),
        ImageError::Mount(e) => (MOUNT, Some(e)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Box<Bundles> {
        Box::new(Bundles { arena: [0; NAMES_ARENA], used: 0, items: [Candidate { place: Place::Top, start: 0, len: 0 }; MAX_CANDIDATES], count: 0, dropped: 0 })
    }

    /// Adds `n` names made by `name(i)`, in a scrambled order; returns the sorted kept names.
    fn fill(b: &mut Bundles, n: usize, name: impl Fn(usize) -> String) -> Vec<String> {
        for i in 0..n {
            b.add(Place::Top, name((i * 7919) % n).as_bytes());
        }
        b.sort();
        b.items[..b.count].iter().map(|c| String::from_utf8(b.name(c).to_vec()).unwrap()).collect()
    }

    #[test]
    fn too_many_names_keep_the_ones_that_sort_first() {
        let mut b = empty();
        let kept = fill(&mut b, 1100, |i| format!("b{i}.sb"));
        assert_eq!((b.count, b.dropped), (1024, 76));
        assert_eq!(kept, (0..1024).map(|i| format!("b{i}.sb")).collect::<Vec<_>>());
    }

    #[test]
    fn a_full_arena_keeps_the_names_that_sort_first_and_stays_packed() {
        let mut b = empty();
        let long = |i: usize| format!("{i:04}{}.sb", "x".repeat(243));
        let kept = fill(&mut b, 700, long);
        let fit = NAMES_ARENA / 250;
        assert_eq!((b.count, b.dropped, b.used), (fit, 700 - fit, fit * 250));
        assert_eq!(kept, (0..fit).map(long).collect::<Vec<_>>());
    }
}
