//! Partition tables: GPT with 512- and 4096-byte sectors, and MBR. The input is one flags
//! byte, then a sparse disk head (see `rdinit_fuzz::sparse`). CRCs stop almost every
//! mutation at the header: flag bits ask the target to make the table's and the header's
//! CRC right after mutating, so the fuzzer also reaches the entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdinit::parse::partition::{self, crc32};
use rdinit::parse::Text;

/// Enough for a GPT at 4096-byte sectors and a few tables of entries.
const MAX_HEAD: usize = 64 << 10;

fn le32(h: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(h[off..off + 4].try_into().unwrap())
}

fn le64(h: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(h[off..off + 8].try_into().unwrap())
}

/// Rewrites the CRCs of the GPT whose header is at `hdr` (sector size `sector`).
fn fix_crcs(head: &mut [u8], sector: usize, fix_table: bool) {
    let hdr = sector;
    if head.len() < hdr + 92 {
        return;
    }
    if fix_table {
        let (lba, count, size) = (le64(head, hdr + 72), le32(head, hdr + 80), le32(head, hdr + 84));
        let start = (lba as usize).saturating_mul(sector).min(head.len());
        let len = (count as usize).saturating_mul(size as usize).min(head.len() - start);
        let crc = crc32(&head[start..start + len]);
        head[hdr + 88..hdr + 92].copy_from_slice(&crc.to_le_bytes());
    }
    let size = (le32(head, hdr + 12) as usize).clamp(92, 512).min(head.len() - hdr);
    head[hdr + 16..hdr + 20].fill(0);
    let crc = crc32(&head[hdr..hdr + size]);
    head[hdr + 16..hdr + 20].copy_from_slice(&crc.to_le_bytes());
}

fn is_uuid(t: &[u8]) -> bool {
    t.len() == 36
        && t.iter().enumerate().all(|(i, &c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
            }
        })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut head = rdinit_fuzz::sparse(rest, MAX_HEAD);
    for (bit, sector) in [(1, 512), (2, 4096)] {
        if flags & bit != 0 {
            fix_crcs(&mut head, sector, flags & 4 != 0);
        }
    }

    if let Some(sig) = partition::mbr_signature(&head) {
        assert_eq!(sig, le32(&head, 440));
        for partno in [1, 4, 5, 255, 256, 70000, u32::MAX] {
            let mut t = Text::<36>::new();
            partition::mbr_partuuid(sig, partno, &mut t);
            let s = std::str::from_utf8(t.as_bytes()).unwrap();
            let (hex_sig, hex_no) = s.split_once('-').unwrap();
            assert_eq!(u32::from_str_radix(hex_sig, 16), Ok(sig));
            assert_eq!(u32::from_str_radix(hex_no, 16), Ok(partno));
            assert!(hex_no.len() >= 2 && s == s.to_ascii_lowercase());
        }
    }

    for sector in [512usize, 4096] {
        let Some(lba1) = head.get(sector..) else { continue };
        let Some(g) = partition::gpt_header(lba1) else { continue };
        assert!(g.entry_size >= 128 && g.entry_size % 8 == 0 && g.entry_count > 0);
        assert!(g.table_len() <= 1 << 20 && g.table_len() >= 128);
        let start = (g.entries_lba as usize).saturating_mul(sector).min(head.len());
        let table = &head[start..];
        let table = &table[..g.table_len().min(table.len())];
        if g.table_ok(table) {
            assert_eq!(table.len(), g.table_len());
        }
        let mut last = 0;
        for (n, p) in partition::gpt_entries(table, g.entry_size) {
            // Numbered by slot, from 1, gaps kept: increasing and within the table.
            assert!(n > last && (n as usize) * (g.entry_size as usize) <= table.len());
            last = n;
            assert!(is_uuid(p.partuuid.as_bytes()), "{:?}", p.partuuid.as_bytes());
            assert!(p.partlabel.as_bytes().iter().all(|c| (0x20..0x7f).contains(c)));
        }
    }
});
