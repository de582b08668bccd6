//! Kernel modules: picking them by name from a kernel's depmod output, with hard
//! dependencies (`modules.dep`), soft dependencies (`modules.softdep`, names resolved as module
//! names or through `modules.alias`) and built-in modules (`modules.builtin`).
//!
//! Names match with `-` and `_` alike, as kmod does.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// `usb-storage` and `usb_storage` are one module.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// kmod's alias normalization: `-` becomes `_` outside `[...]` classes.
fn normalize_alias(alias: &str) -> String {
    let mut out = String::with_capacity(alias.len());
    let mut in_class = false;
    for c in alias.chars() {
        match c {
            '[' => in_class = true,
            ']' => in_class = false,
            '-' if !in_class => {
                out.push('_');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// The module name of a path in modules.dep or modules.builtin: `kernel/drivers/usb/storage/usb-storage.ko.xz` -> `usb_storage`.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = match file.find(".ko") {
        Some(i) if file[i + 3..].is_empty() || file[i + 3..].starts_with('.') => &file[..i],
        _ => file,
    };
    normalize(stem)
}

/// Why a module is in the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// Named with --module.
    Named,
    /// In a preset.
    Preset(String),
    /// A hard dependency of a module already in.
    Dep { of: String },
    /// A soft dependency of a module already in, `via` the name its softdep line gives.
    Softdep { of: String, via: String },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Named => write!(f, "named"),
            Why::Preset(p) => write!(f, "preset {p}"),
            Why::Dep { of } => write!(f, "dep of {of}"),
            Why::Softdep { of, via } if normalize(via) == normalize(of) => {
                write!(f, "softdep of {of}")
            }
            Why::Softdep { of, via } => write!(f, "softdep of {of} ({via})"),
        }
    }
}

/// A module asked for by the user or a preset.
#[derive(Clone, Debug)]
pub struct Request {
    pub name: String,
    pub why: Why,
    /// A name the kernel lacks is an error when true, a note when false (presets).
    pub required: bool,
}

#[derive(Clone, Debug)]
struct DepLine {
    raw: String,
    name: String,
    /// As written in modules.dep (relative to the modules dir, or absolute).
    path: String,
    deps: Vec<String>,
}

#[derive(Clone, Debug)]
struct AliasLine {
    raw: String,
    module: String,
}

#[derive(Clone, Debug)]
struct SoftdepLine {
    raw: String,
    module: String,
    names: Vec<String>,
}

/// A kernel's depmod output, as read from its modules directory.
pub struct Kernel {
    pub dir: PathBuf,
    pub release: String,
    deps: Vec<DepLine>,
    by_name: HashMap<String, usize>,
    by_path: HashMap<String, usize>,
    builtin: HashSet<String>,
    /// modules.builtin as read (copied into the image as is), if present.
    pub builtin_raw: Option<Vec<u8>>,
    aliases: Option<Vec<AliasLine>>,
    alias_exact: HashMap<String, Vec<usize>>,
    alias_glob: Vec<(glob::Pattern, usize)>,
    softdeps: Option<Vec<SoftdepLine>>,
    comments_alias: Vec<String>,
    comments_softdep: Vec<String>,
}

/// A module chosen for the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    pub name: String,
    /// As written in modules.dep.
    pub path: String,
    pub why: Why,
}

/// The outcome of [`Kernel::select`].
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// In modules.dep order.
    pub modules: Vec<Selected>,
    /// Names asked for (or softdeps) that are built into the kernel: nothing to include.
    pub builtin: Vec<String>,
    /// Preset names this kernel has neither as module nor built in.
    pub skipped: Vec<String>,
    /// Other things worth saying (alias resolutions, softdeps that resolve to nothing).
    pub notes: Vec<String>,
}

/// What a name stands for in this kernel.
enum Lookup {
    Modules(Vec<usize>),
    Builtin,
    Unknown,
}

impl Kernel {
    /// Reads `dir/modules.dep` (required) and, where present, `modules.builtin`,
    /// `modules.alias`, `modules.softdep`.
    pub fn load(dir: &Path, release: &str) -> Result<Kernel> {
        let dep_path = dir.join("modules.dep");
        let dep_text = std::fs::read_to_string(&dep_path).with_context(|| {
            format!(
                "cannot read {} (is the kernel's module tree installed, and depmod run?)",
                dep_path.display()
            )
        })?;
        let mut k = Kernel {
            dir: dir.to_path_buf(),
            release: release.to_string(),
            deps: Vec::new(),
            by_name: HashMap::new(),
            by_path: HashMap::new(),
            builtin: HashSet::new(),
            builtin_raw: None,
            aliases: None,
            alias_exact: HashMap::new(),
            alias_glob: Vec::new(),
            softdeps: None,
            comments_alias: Vec::new(),
            comments_softdep: Vec::new(),
        };
        for (i, line) in dep_text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((path, deps)) = line.split_once(':') else {
                bail!("{}:{}: no ':' in '{line}'", dep_path.display(), i + 1);
            };
            let path = path.trim().to_string();
            let name = module_name(&path);
            let idx = k.deps.len();
            k.by_name.entry(name.clone()).or_insert(idx);
            k.by_path.insert(path.clone(), idx);
            k.deps.push(DepLine {
                raw: line.to_string(),
                name,
                path,
                deps: deps.split_whitespace().map(str::to_string).collect(),
            });
        }
        for d in &k.deps {
            for dep in &d.deps {
                if !k.by_path.contains_key(dep) {
                    bail!(
                        "{}: {} depends on {dep}, which has no line of its own",
                        dep_path.display(),
                        d.path
                    );
                }
            }
        }

        if let Some(raw) = read_optional(&dir.join("modules.builtin"))? {
            let text = String::from_utf8_lossy(&raw);
            k.builtin = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(module_name)
                .collect();
            k.builtin_raw = Some(raw);
        }

        if let Some(raw) = read_optional(&dir.join("modules.alias"))? {
            let mut lines = Vec::new();
            for line in String::from_utf8_lossy(&raw).lines() {
                let mut words = line.split_whitespace();
                match (words.next(), words.next(), words.next()) {
                    (Some("alias"), Some(pattern), Some(module)) => {
                        let idx = lines.len();
                        let pattern = normalize_alias(pattern);
                        if pattern.contains(['*', '?', '[']) {
                            if let Ok(p) = glob::Pattern::new(&pattern) {
                                k.alias_glob.push((p, idx));
                            }
                        } else {
                            k.alias_exact.entry(pattern).or_default().push(idx);
                        }
                        lines.push(AliasLine {
                            raw: line.to_string(),
                            module: normalize(module),
                        });
                    }
                    _ if line.starts_with('#') => k.comments_alias.push(line.to_string()),
                    _ => {}
                }
            }
            k.aliases = Some(lines);
        }

        if let Some(raw) = read_optional(&dir.join("modules.softdep"))? {
            let mut lines = Vec::new();
            for line in String::from_utf8_lossy(&raw).lines() {
                let mut words = line.split_whitespace();
                match (words.next(), words.next()) {
                    (Some("softdep"), Some(module)) => {
                        // As kmod: names count only after a `pre:` or `post:`.
                        let mut on = false;
                        let mut names = Vec::new();
                        for w in words {
                            match w {
                                "pre:" | "post:" => on = true,
                                w if on => names.push(w.to_string()),
                                _ => {}
                            }
                        }
                        lines.push(SoftdepLine {
                            raw: line.to_string(),
                            module: normalize(module),
                            names,
                        });
                    }
                    _ if line.starts_with('#') => k.comments_softdep.push(line.to_string()),
                    _ => {}
                }
            }
            k.softdeps = Some(lines);
        }
        Ok(k)
    }

    /// Every module of modules.dep, by name, in file order.
    pub fn all_names(&self) -> Vec<String> {
        self.deps.iter().map(|d| d.name.clone()).collect()
    }

    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&normalize(name))
    }

    /// The host file of a module path from modules.dep.
    pub fn host_path(&self, path: &str) -> PathBuf {
        self.dir.join(path)
    }

    fn lookup(&self, name: &str) -> Lookup {
        let n = normalize(name);
        if let Some(&i) = self.by_name.get(&n) {
            return Lookup::Modules(vec![i]);
        }
        if self.builtin.contains(&n) {
            return Lookup::Builtin;
        }
        let alias = normalize_alias(name);
        let mut found: Vec<usize> = Vec::new();
        if let Some(lines) = &self.aliases {
            let mut hits: Vec<usize> = self.alias_exact.get(&alias).cloned().unwrap_or_default();
            hits.extend(
                self.alias_glob
                    .iter()
                    .filter(|(p, _)| p.matches(&alias))
                    .map(|&(_, i)| i),
            );
            hits.sort_unstable();
            for i in hits {
                if let Some(&m) = self.by_name.get(&lines[i].module) {
                    if !found.contains(&m) {
                        found.push(m);
                    }
                }
            }
        }
        if found.is_empty() {
            Lookup::Unknown
        } else {
            found.sort_unstable();
            Lookup::Modules(found)
        }
    }

    /// The closest module name, for "did you mean".
    fn suggest(&self, name: &str) -> Option<&str> {
        let n = normalize(name);
        self.deps
            .iter()
            .map(|d| d.name.as_str())
            .chain(self.builtin.iter().map(String::as_str))
            .map(|c| (strsim::levenshtein(&n, c), c))
            .filter(|&(d, _)| d <= 2 || (d <= 3 && n.len() > 8))
            .min()
            .map(|(_, c)| c)
    }

    /// Resolves requests into modules: each with its hard dependencies and soft dependencies,
    /// recursively. A required name that is neither a module, built in, nor an alias is an
    /// error naming it.
    pub fn select(&self, requests: &[Request]) -> Result<Selection> {
        let mut sel = Selection::default();
        let mut why: HashMap<usize, Why> = HashMap::new();
        let mut queue: VecDeque<usize> = VecDeque::new();
        let push = |i: usize, w: Why, why: &mut HashMap<usize, Why>, q: &mut VecDeque<usize>| {
            if let std::collections::hash_map::Entry::Vacant(v) = why.entry(i) {
                v.insert(w);
                q.push_back(i);
            }
        };
        for r in requests {
            match self.lookup(&r.name) {
                Lookup::Modules(found) => {
                    let n = normalize(&r.name);
                    if found.len() != 1 || self.deps[found[0]].name != n {
                        let names: Vec<&str> =
                            found.iter().map(|&i| self.deps[i].name.as_str()).collect();
                        sel.notes
                            .push(format!("'{}' is an alias of {}", r.name, names.join(", ")));
                    }
                    for i in found {
                        push(i, r.why.clone(), &mut why, &mut queue);
                    }
                }
                Lookup::Builtin => {
                    let n = normalize(&r.name);
                    if !sel.builtin.contains(&n) {
                        sel.builtin.push(n);
                    }
                }
                Lookup::Unknown if r.required => {
                    let mut msg = format!(
                        "module '{}' not found in {}",
                        r.name,
                        self.dir.join("modules.dep").display()
                    );
                    if let Some(s) = self.suggest(&r.name) {
                        msg += &format!(" (did you mean '{s}'?)");
                    }
                    bail!(msg);
                }
                Lookup::Unknown => {
                    if !sel.skipped.contains(&r.name) {
                        sel.skipped.push(r.name.clone());
                    }
                }
            }
        }
        while let Some(i) = queue.pop_front() {
            let d = &self.deps[i];
            for dep in &d.deps {
                let j = self.by_path[dep];
                push(j, Why::Dep { of: d.name.clone() }, &mut why, &mut queue);
            }
            for s in self
                .softdeps
                .iter()
                .flatten()
                .filter(|s| s.module == d.name)
            {
                for via in &s.names {
                    match self.lookup(via) {
                        Lookup::Modules(found) => {
                            for j in found {
                                let w = Why::Softdep {
                                    of: d.name.clone(),
                                    via: via.clone(),
                                };
                                push(j, w, &mut why, &mut queue);
                            }
                        }
                        Lookup::Builtin => {
                            let n = normalize(via);
                            if !sel.builtin.contains(&n) {
                                sel.builtin.push(n);
                            }
                        }
                        Lookup::Unknown => sel.notes.push(format!(
                            "softdep '{via}' of {} is neither a module nor an alias here; left out",
                            d.name
                        )),
                    }
                }
            }
        }
        let mut chosen: Vec<(usize, Why)> = why.into_iter().collect();
        chosen.sort_by_key(|(i, _)| *i);
        sel.modules = chosen
            .into_iter()
            .map(|(i, why)| Selected {
                name: self.deps[i].name.clone(),
                path: self.deps[i].path.clone(),
                why,
            })
            .collect();
        sel.notes.dedup();
        Ok(sel)
    }

    /// modules.dep holding only the selected modules' lines, in the original order.
    pub fn filtered_dep(&self, sel: &Selection) -> String {
        let paths: HashSet<&str> = sel.modules.iter().map(|m| m.path.as_str()).collect();
        self.deps
            .iter()
            .filter(|d| paths.contains(d.path.as_str()))
            .map(|d| d.raw.clone() + "\n")
            .collect()
    }

    /// modules.alias with only the selected modules' lines (comments kept), if the kernel
    /// has one.
    pub fn filtered_alias(&self, sel: &Selection) -> Option<String> {
        let lines = self.aliases.as_ref()?.iter().map(|l| (l.module.as_str(), l.raw.as_str()));
        Some(filtered(&self.comments_alias, lines, sel))
    }

    /// modules.softdep with only the selected modules' lines (comments kept), if the kernel
    /// has one.
    pub fn filtered_softdep(&self, sel: &Selection) -> Option<String> {
        let lines = self.softdeps.as_ref()?.iter().map(|l| (l.module.as_str(), l.raw.as_str()));
        Some(filtered(&self.comments_softdep, lines, sel))
    }
}

/// A depmod file cut down to the lines of the selected modules, its comments first.
fn filtered<'a>(comments: &[String], lines: impl Iterator<Item = (&'a str, &'a str)>, sel: &Selection) -> String {
    let names: HashSet<&str> = sel.modules.iter().map(|m| m.name.as_str()).collect();
    let mut out: String = comments.iter().map(|c| c.clone() + "\n").collect();
    for (_, raw) in lines.filter(|(module, _)| names.contains(module)) {
        out += raw;
        out.push('\n');
    }
    out
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::fs;

    /// A small module tree shaped like Debian's 6.1: ext4 with hard deps and a softdep on
    /// crypto-crc32c (an alias of two modules), dashes in file names, built-ins.
    pub(crate) fn fixture() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("6.1.0-test");
        let files = [
            "kernel/fs/ext4/ext4.ko",
            "kernel/fs/jbd2/jbd2.ko",
            "kernel/fs/mbcache.ko",
            "kernel/lib/crc16.ko",
            "kernel/crypto/crc32c_generic.ko",
            "kernel/arch/x86/crypto/crc32c-intel.ko",
            "kernel/drivers/usb/storage/usb-storage.ko.xz",
            "kernel/drivers/usb/storage/uas.ko.zst",
            "kernel/drivers/usb/core/usbcore.ko",
            "kernel/drivers/block/virtio_blk.ko",
            "kernel/drivers/virtio/virtio_ring.ko",
            "kernel/fs/nls/nls_iso8859-1.ko",
            "kernel/drivers/block/loop.ko",
            "kernel/crypto/md5.ko",
        ];
        for (i, f) in files.iter().enumerate() {
            let p = d.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, vec![b'm'; 100 + i]).unwrap();
        }
        fs::write(
            d.join("modules.dep"),
            "\
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/usb/storage/usb-storage.ko.xz: kernel/drivers/usb/core/usbcore.ko
kernel/drivers/usb/storage/uas.ko.zst: kernel/drivers/usb/storage/usb-storage.ko.xz kernel/drivers/usb/core/usbcore.ko
kernel/drivers/usb/core/usbcore.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/fs/nls/nls_iso8859-1.ko:
kernel/drivers/block/loop.ko:
kernel/crypto/md5.ko:
",
        )
        .unwrap();
        fs::write(
            d.join("modules.softdep"),
            "\
# Soft dependencies extracted from modules themselves.
softdep ext4 pre: crypto-crc32c
softdep jbd2 pre: crypto-crc32c
softdep cifs pre: md5
softdep uas gcm
softdep usb-storage post: nosuchthing
",
        )
        .unwrap();
        fs::write(
            d.join("modules.alias"),
            "\
# Aliases extracted from modules themselves.
alias crypto-crc32c-intel crc32c_intel
alias crypto-crc32c crc32c_intel
alias crc32c crc32c_intel
alias crypto-crc32c crc32c_generic
alias crc32c crc32c_generic
alias fs-ext4 ext4
alias ext2 ext4
alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage
alias virtio:d00000002v* virtio_blk
alias block-major-7-* loop
",
        )
        .unwrap();
        fs::write(
            d.join("modules.builtin"),
            "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/usb/host/xhci-pci.ko\n",
        )
        .unwrap();
        t
    }

    pub(crate) fn load_fixture(t: &tempfile::TempDir) -> Kernel {
        Kernel::load(&t.path().join("6.1.0-test"), "6.1.0-test").unwrap()
    }

    fn named(names: &[&str]) -> Vec<Request> {
        names
            .iter()
            .map(|n| Request {
                name: n.to_string(),
                why: Why::Named,
                required: true,
            })
            .collect()
    }

    fn picked(sel: &Selection) -> Vec<(String, String)> {
        sel.modules
            .iter()
            .map(|m| (m.name.clone(), m.why.to_string()))
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn names() {
        assert_eq!(
            module_name("kernel/drivers/usb/storage/usb-storage.ko.xz"),
            "usb_storage"
        );
        assert_eq!(
            module_name("kernel/fs/nls/nls_iso8859-1.ko"),
            "nls_iso8859_1"
        );
        assert_eq!(module_name("/abs/x.ko.zst"), "x");
        assert_eq!(normalize_alias("pci:v*d[a-b]x-y"), "pci:v*d[a-b]x_y");
    }

    #[test]
    fn deps_and_softdeps_through_aliases() {
        let t = fixture();
        let k = load_fixture(&t);
        let sel = k.select(&named(&["ext4"])).unwrap();
        assert_eq!(
            picked(&sel),
            pairs(&[
                ("crc32c_intel", "softdep of ext4 (crypto-crc32c)"),
                ("ext4", "named"),
                ("jbd2", "dep of ext4"),
                ("mbcache", "dep of ext4"),
                ("crc16", "dep of ext4"),
                ("crc32c_generic", "softdep of ext4 (crypto-crc32c)"),
            ])
        );
        assert_eq!(
            k.filtered_dep(&sel),
            "\
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/crypto/crc32c_generic.ko:
"
        );
        assert_eq!(
            k.filtered_softdep(&sel).unwrap(),
            "\
# Soft dependencies extracted from modules themselves.
softdep ext4 pre: crypto-crc32c
softdep jbd2 pre: crypto-crc32c
"
        );
        assert_eq!(
            k.filtered_alias(&sel).unwrap(),
            "\
# Aliases extracted from modules themselves.
alias crypto-crc32c-intel crc32c_intel
alias crypto-crc32c crc32c_intel
alias crc32c crc32c_intel
alias crypto-crc32c crc32c_generic
alias crc32c crc32c_generic
alias fs-ext4 ext4
alias ext2 ext4
"
        );
    }

    #[test]
    fn dashes_underscores_compressed_and_transitive_deps() {
        let t = fixture();
        let k = load_fixture(&t);
        let sel = k.select(&named(&["uas", "nls-iso8859_1"])).unwrap();
        assert_eq!(
            picked(&sel),
            pairs(&[
                ("usb_storage", "dep of uas"),
                ("uas", "named"),
                ("usbcore", "dep of uas"),
                ("nls_iso8859_1", "named"),
            ])
        );
        assert_eq!(
            sel.modules[0].path,
            "kernel/drivers/usb/storage/usb-storage.ko.xz"
        );
        // Tokens before pre:/post: mean nothing (as in kmod); an unresolvable softdep is a note.
        assert_eq!(
            sel.notes,
            ["softdep 'nosuchthing' of usb_storage is neither a module nor an alias here; left out"]
        );
    }

    #[test]
    fn builtin_alias_unknown() {
        let t = fixture();
        let k = load_fixture(&t);
        let sel = k
            .select(&named(&["virtio-pci", "xhci_pci", "crc32c"]))
            .unwrap();
        assert_eq!(sel.builtin, ["virtio_pci", "xhci_pci"]);
        assert_eq!(
            picked(&sel),
            pairs(&[("crc32c_intel", "named"), ("crc32c_generic", "named")])
        );
        assert_eq!(
            sel.notes,
            ["'crc32c' is an alias of crc32c_intel, crc32c_generic"]
        );
        // Glob aliases resolve too.
        let sel = k.select(&named(&["block-major-7-0"])).unwrap();
        assert_eq!(picked(&sel), pairs(&[("loop", "named")]));

        let err = k
            .select(&named(&["ext4", "virtio_bk"]))
            .unwrap_err()
            .to_string();
        let dep = t.path().join("6.1.0-test/modules.dep");
        assert_eq!(
            err,
            format!(
                "module 'virtio_bk' not found in {} (did you mean 'virtio_blk'?)",
                dep.display()
            )
        );
        let err = k.select(&named(&["zzzzzzzz"])).unwrap_err().to_string();
        assert!(err.ends_with("modules.dep"), "{err}");

        // Optional names (presets) are skipped instead.
        let req = Request {
            name: "nvme".into(),
            why: Why::Preset("storage".into()),
            required: false,
        };
        let sel = k.select(&[req]).unwrap();
        assert_eq!(sel.skipped, ["nvme"]);
        assert!(sel.modules.is_empty());
    }

    #[test]
    fn bad_modules_dep() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("modules.dep"), "a.ko: b.ko\n").unwrap();
        let err = Kernel::load(t.path(), "x").err().unwrap().to_string();
        assert!(
            err.ends_with("a.ko depends on b.ko, which has no line of its own"),
            "{err}"
        );
        fs::write(t.path().join("modules.dep"), "a.ko\n").unwrap();
        let err = Kernel::load(t.path(), "x").err().unwrap().to_string();
        assert!(err.ends_with("modules.dep:1: no ':' in 'a.ko'"), "{err}");
        let err = Kernel::load(&t.path().join("nope"), "x")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("nope/modules.dep"), "{err}");
    }
}
