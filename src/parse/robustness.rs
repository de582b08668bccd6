//! Every parser on random and mutated input: no panics (a panic in PID 1 is a failed boot)
//! and no hangs. Mutations start from the real captures in tests/fixtures, so they reach
//! the deep branches that random bytes alone would not.

use super::*;

/// xorshift64*: reproducible, no crate needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// Bytes that parsers treat specially, more often than chance would pick them.
    fn byte(&mut self) -> u8 {
        const SPECIAL: &[u8] = b" \t\n\0=\"-,:/\\*?[]!^()@0123456789aZ\xff";
        if self.below(2) == 0 { SPECIAL[self.below(SPECIAL.len())] } else { self.next() as u8 }
    }
    /// A copy of `seed` with a few bytes flipped, inserted, deleted or the tail cut.
    fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..1 + self.below(8) {
            let at = self.below(v.len() + 1);
            match self.below(4) {
                0 if at < v.len() => v[at] = self.byte(),
                1 => v.insert(at, self.byte()),
                2 if at < v.len() => {
                    v.remove(at);
                }
                _ => v.truncate(at),
            }
        }
        v
    }
    fn random(&mut self, max: usize) -> Vec<u8> {
        (0..self.below(max)).map(|_| self.byte()).collect()
    }
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// `rounds` inputs: random ones and mutations of each seed (whole files, or their lines).
fn inputs(seeds: &[Vec<u8>], rounds: usize, mut check: impl FnMut(&[u8])) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for seed in seeds {
        check(seed);
    }
    for i in 0..rounds {
        let input = if i % 4 == 0 {
            rng.random(300)
        } else {
            let seed = rng.below(seeds.len());
            rng.mutate(&seeds[seed])
        };
        check(&input);
    }
}

fn lines(text: &[u8]) -> Vec<Vec<u8>> {
    text.split(|&c| c == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
}

#[test]
fn command_lines() {
    let seeds = lines(&fixture("cmdline/lines.txt"));
    inputs(&seeds, 20_000, |line| {
        let c = cmdline::boot_config(line);
        let _ = (c.bad_values().len(), cmdline::init_args(line));
        for v in cmdline::params(line).filter_map(|p| p.value) {
            let _ = (cmdline::device_spec(v), cmdline::located_path(v), cmdline::parse_i32(v));
        }
    });
}

#[test]
fn uevents() {
    let seeds = [fixture("uevent/netlink.bin"), fixture("uevent/sysfs-block-vda"), fixture("uevent/sysfs-pci-virtio-blk")];
    inputs(&seeds, 20_000, |msg| {
        let _ = uevent::parse(msg).map(|e| (e.major, e.minor, e.partn));
    });
}

#[test]
fn mountinfo_tables() {
    let seeds: Vec<Vec<u8>> = ["container", "overlay-escaped", "shutdown-pivot-ext4", "shutdown-pivot-fat", "shutdown-systemd"]
        .iter()
        .map(|f| fixture(&format!("mountinfo/{f}.txt")))
        .collect();
    let mut plan = [mountinfo::Node::default(); 64];
    let mut out = [0u8; 64];
    inputs(&seeds, 5_000, |text| {
        let (n, _) = mountinfo::takedown_plan(text, &mut plan);
        for (i, node) in plan[..n].iter().enumerate() {
            let _ = mountinfo::blocks_parent(&plan[..n], i);
            if let Some(e) = mountinfo::entry_at(text, node.line) {
                let _ = (mountinfo::unescape(e.mount_point, &mut out), mountinfo::has_option(e.super_options, b"ro"));
            }
        }
    });
}

#[test]
fn module_indexes() {
    let seeds: Vec<Vec<u8>> =
        ["modules.dep", "modules.softdep", "modules.alias"].iter().map(|f| fixture(&format!("modules/{f}"))).collect();
    // Whole files are large: mutate a slice of each.
    let seeds: Vec<Vec<u8>> = seeds.iter().map(|s| s[..s.len().min(4096)].to_vec()).collect();
    inputs(&seeds, 3_000, |text| {
        for e in modules::dep_entries(text) {
            let _ = (modules::stem(e.path), modules::compression(e.path), e.deps().count());
        }
        for s in modules::find_softdeps(text, b"ext4") {
            let _ = (s.pre().count(), s.post().count());
        }
        let _ = modules::resolve_alias(text, b"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00").count();
    });
}

#[test]
fn superblocks_and_partition_tables() {
    // Only the bytes the fixtures hold are mutated (the rest of a 68 KiB head is zeros):
    // that is where the probes look.
    let names = ["ext2", "ext3", "ext4", "vfat12", "vfat16", "vfat32", "iso9660", "iso9660-mbr", "xfs", "btrfs", "squashfs", "erofs", "swap"];
    let mut rng = Rng(7);
    for name in names {
        let head = superblock::tests::sparse(&format!("superblock/{name}.sparse"));
        let hot: Vec<usize> = head.iter().enumerate().filter(|(_, &b)| b != 0).map(|(i, _)| i).collect();
        for _ in 0..400 {
            let mut h = head.clone();
            for _ in 0..1 + rng.below(6) {
                let at = hot[rng.below(hot.len())];
                h[at] = rng.byte();
            }
            let cut = if rng.below(4) == 0 { rng.below(h.len()) } else { h.len() };
            let _ = (superblock::probe(&h[..cut]), superblock::is_bundle_image(&h[..cut]));
        }
    }
    for name in ["gpt", "mbr"] {
        let head = superblock::tests::sparse(&format!("partition/{name}.sparse"));
        for _ in 0..2_000 {
            let mut h = head[..4608].to_vec();
            for _ in 0..1 + rng.below(6) {
                let at = rng.below(1024);
                h[at] = rng.byte();
            }
            let _ = partition::mbr_signature(&h);
            for s in [512, 4096] {
                if let Some(g) = partition::gpt_header(&h[s..]) {
                    let _ = (g.table_len(), g.table_ok(&h));
                    let _ = partition::gpt_entries(&h, g.entry_size).count();
                }
            }
        }
    }
}

#[test]
fn patterns() {
    let mut rng = Rng(3);
    for _ in 0..20_000 {
        let (p, n) = (rng.random(24), rng.random(40));
        let _ = (pattern::glob(&p, &n), pattern::matches_any(&p, &n), pattern::natural_cmp(&p, &n));
    }
    // Many stars against a long name that almost matches: linear, not exponential.
    let name = [b'a'; 4000];
    assert!(!pattern::glob(&[b"*a".repeat(200), b"b".to_vec()].concat(), &name));
}

#[test]
fn process_stat_lines() {
    let seeds = vec![b"18184 (cat) R 18180 18180 16944 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0\n".to_vec()];
    inputs(&seeds, 20_000, |s| {
        let _ = procstat::is_live_user_process(s);
    });
}
