//! Partition tables, only as far as `PARTUUID=` and `PARTLABEL=` need them: the kernel has
//! already split the disk, but devtmpfs has no /dev/disk/by-part* links to match against.

use super::bytes::{le16, le32, le64};
use super::text::{Text, BIG_ENDIAN, UUID_DASHES};

/// The IEEE CRC-32 GPT uses, bit by bit: no table, and the data is a few KiB at most.
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |mut crc, &b| {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
        crc
    })
}

/// Where a GPT's partition entries are, from its header.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct GptHeader {
    pub entries_lba: u64,
    pub entry_count: u32,
    pub entry_size: u32,
    /// CRC-32 of the `entry_count * entry_size` bytes of the table.
    pub entries_crc: u32,
}

impl GptHeader {
    /// Bytes to read at `entries_lba` (the header check keeps it at most 1 MiB).
    pub fn table_len(&self) -> usize {
        (self.entry_count as usize).saturating_mul(self.entry_size as usize)
    }

    /// Whether a table read from disk is the one this header describes.
    pub fn table_ok(&self, table: &[u8]) -> bool {
        table.get(..self.table_len()).is_some_and(|t| crc32(t) == self.entries_crc)
    }
}

/// Reads the GPT header in LBA 1 (at byte 512, or 4096 on 4Kn disks); `None` unless the
/// signature, size and header CRC are right, as the kernel requires.
pub fn gpt_header(lba1: &[u8]) -> Option<GptHeader> {
    if lba1.get(..8)? != b"EFI PART" {
        return None;
    }
    let size = le32(lba1, 12)? as usize;
    let mut hdr = [0u8; 512];
    let src = lba1.get(..size).filter(|_| size >= 92)?;
    for (d, s) in hdr.iter_mut().zip(src) {
        *d = *s;
    }
    // The CRC covers the header with its own CRC field zeroed.
    hdr.get_mut(16..20)?.fill(0);
    if crc32(hdr.get(..size)?) != le32(lba1, 16)? {
        return None;
    }
    let h = GptHeader {
        entries_lba: le64(lba1, 72)?,
        entry_count: le32(lba1, 80)?,
        entry_size: le32(lba1, 84)?,
        entries_crc: le32(lba1, 88)?,
    };
    let sane = h.entry_size >= 128 && h.entry_size.is_multiple_of(8) && h.entry_count > 0 && h.table_len() <= 1 << 20;
    sane.then_some(h)
}

/// One used GPT entry.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(Debug))]
pub struct GptPart {
    /// The unique partition GUID as blkid prints PARTUUID: lowercase, mixed-endian.
    pub partuuid: Text<36>,
    /// The name as the kernel shows it: one byte per UTF-16 unit, so at most 36.
    pub partlabel: Text<36>,
    pub first_lba: u64,
    pub last_lba: u64,
}

/// Decodes one entry; `None` for an unused slot (zero type GUID) or short input.
pub fn gpt_entry(raw: &[u8]) -> Option<GptPart> {
    let mut p = GptPart { partuuid: Text::new(), partlabel: Text::new(), first_lba: le64(raw, 32)?, last_lba: le64(raw, 40)? };
    gpt_entry_ids(raw, &mut p.partuuid, &mut p.partlabel)?;
    Some(p)
}

/// An entry's PARTUUID and PARTLABEL, appended to `partuuid` and `partlabel` (in place: no
/// entry is built and copied); `None` for an unused slot (zero type GUID) or short input.
pub fn gpt_entry_ids(raw: &[u8], partuuid: &mut Text<36>, partlabel: &mut Text<36>) -> Option<()> {
    // The unique GUID's first three groups are stored little-endian.
    const ORDER: [u8; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    let raw = raw.get(..128)?;
    if raw.get(..16)? == [0; 16] {
        return None;
    }
    // The kernel's own PARTLABEL= match (block/partitions/efi.c) keeps the low byte of each
    // UTF-16 unit and shows anything unprintable as '!': do the same, so both agree.
    for unit in (0..36).map_while(|i| le16(raw, 56 + 2 * i)).take_while(|&u| u != 0) {
        partlabel.push(if (0x20..0x7f).contains(&unit) { unit as u8 } else { b'!' });
    }
    partuuid.push_hex_groups(raw.get(16..32)?, &ORDER, UUID_DASHES);
    Some(())
}

/// The used entries of a partition table with their partition numbers (index + 1, as the
/// kernel numbers them, gaps kept).
pub fn gpt_entries(table: &[u8], entry_size: u32) -> impl Iterator<Item = (u32, GptPart)> + '_ {
    let size = (entry_size as usize).max(128);
    let entry = move |i: usize| table.get(i.checked_mul(size)?..).and_then(|t| t.get(..size));
    (0..).map_while(entry).zip(1u32..).filter_map(|(raw, n)| Some((n, gpt_entry(raw)?)))
}

/// The MBR disk signature that MBR PARTUUIDs are made of; `None` without the 55AA mark,
/// for a GPT's protective MBR (type 0xEE), when the entries' boot flags are not 0 or 0x80
/// (a filesystem's boot sector, as the kernel reasons), or when no entry is used.
pub fn mbr_signature(sector0: &[u8]) -> Option<u32> {
    if sector0.get(510..512)? != [0x55, 0xAA] {
        return None;
    }
    let mut used = false;
    for e in (446..510).step_by(16) {
        let (boot, kind) = (*sector0.get(e)?, *sector0.get(e + 4)?);
        if kind == 0xEE || !matches!(boot, 0 | 0x80) {
            return None;
        }
        used |= kind != 0;
    }
    used.then_some(le32(sector0, 440)?)
}

/// An MBR partition's PARTUUID as the kernel and blkid write it, `deadbeef-01`, appended
/// to `t`.
pub fn mbr_partuuid(signature: u32, partno: u32, t: &mut Text<36>) {
    t.push_hex_groups(&signature.to_le_bytes(), &BIG_ENDIAN, 0);
    // At least two digits, more only for numbers past 255 (logical partitions).
    let zero_bytes = (partno.leading_zeros() / 8).min(3) as usize;
    t.push_hex_groups(&partno.to_le_bytes(), BIG_ENDIAN.get(zero_bytes..).unwrap_or(&[]), 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::superblock::tests::sparse;

    #[test]
    fn crc() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn real_gpt() {
        let disk = sparse("partition/gpt.sparse");
        let h = gpt_header(&disk[512..1024]).unwrap();
        assert_eq!((h.entries_lba, h.entry_count, h.entry_size), (2, 128, 128));
        let at = h.entries_lba as usize * 512;
        let table = &disk[at..at + h.table_len()];
        assert!(h.table_ok(table));
        let parts: Vec<_> = gpt_entries(table, h.entry_size).collect();
        assert_eq!(parts.len(), 2);
        let (n1, p1) = &parts[0];
        assert_eq!(*n1, 1);
        assert_eq!(p1.partuuid.as_bytes(), b"0fc63daf-8483-4772-8e79-3d69d8477de4");
        assert_eq!(p1.partlabel.as_bytes(), b"slax data");
        assert_eq!((p1.first_lba, p1.last_lba), (2048, 6143));
        let (n2, p2) = &parts[1];
        assert_eq!(*n2, 2);
        assert_eq!(p2.partuuid.as_bytes(), b"c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        assert_eq!(p2.partlabel.as_bytes(), b"EFI syst!me !");
        // Its protective MBR is not an MBR.
        assert_eq!(mbr_signature(&disk[..512]), None);
    }

    #[test]
    fn gpt_damage() {
        let disk = sparse("partition/gpt.sparse");
        let mut hdr = disk[512..1024].to_vec();
        assert!(gpt_header(&hdr).is_some());
        hdr[80] ^= 1;
        assert_eq!(gpt_header(&hdr), None, "CRC must catch a changed field");
        assert_eq!(gpt_header(&disk[512..600]), None);
        assert_eq!(gpt_header(b"EFI PART"), None);
        assert_eq!(gpt_header(&[]), None);
        let h = gpt_header(&disk[512..1024]).unwrap();
        let mut table = disk[1024..1024 + h.table_len()].to_vec();
        table[200] ^= 1;
        assert!(!h.table_ok(&table));
        assert!(!h.table_ok(&table[..100]));
    }

    #[test]
    fn entries_edge_cases() {
        assert_eq!(gpt_entry(&[0u8; 128]), None);
        assert_eq!(gpt_entry(&[1u8; 127]), None);
        let mut e = [0u8; 128];
        e[0] = 1;
        // Unpaired surrogate, then a full-width name with no NUL.
        e[56..58].copy_from_slice(&0xD800u16.to_le_bytes());
        for i in 1..36 {
            e[56 + 2 * i..58 + 2 * i].copy_from_slice(&(0x4E00u16 + i as u16).to_le_bytes());
        }
        let p = gpt_entry(&e).unwrap();
        // Every non-ASCII unit shows as '!', as the kernel shows it; all 36 units fit.
        assert_eq!(p.partlabel.as_bytes(), [b'!'; 36]);
        assert_eq!(p.partuuid.as_bytes(), b"00000000-0000-0000-0000-000000000000");
        assert_eq!(gpt_entries(&[0u8; 100], 128).count(), 0);
    }

    fn mbr(signature: u32, partno: u32) -> Text<36> {
        let mut t = Text::new();
        mbr_partuuid(signature, partno, &mut t);
        t
    }

    #[test]
    fn real_mbr() {
        let disk = sparse("partition/mbr.sparse");
        let sig = mbr_signature(&disk[..512]).unwrap();
        assert_eq!(sig, 0xdeadbeef);
        assert_eq!(mbr(sig, 1).as_bytes(), b"deadbeef-01");
        assert_eq!(mbr(sig, 2).as_bytes(), b"deadbeef-02");
        assert_eq!(mbr(0x00c0ffee, 0x1f).as_bytes(), b"00c0ffee-1f");
        assert_eq!(mbr(1, 300).as_bytes(), b"00000001-012c");
        assert_eq!(mbr(1, 0x10000).as_bytes(), b"00000001-010000");
        assert_eq!(mbr(1, 0).as_bytes(), b"00000001-00");
        assert_eq!(mbr_signature(&disk[..511]), None);
        // A FAT boot sector has 55AA but no partition entries.
        let fat = sparse("superblock/vfat32.sparse");
        assert_eq!(mbr_signature(&fat[..512]), None);
        assert_eq!(mbr_signature(&[0u8; 512]), None);
    }
}
