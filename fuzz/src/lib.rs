//! Helpers shared by the fuzz targets.

/// Whether `inner` is a sub-slice of `outer` (by address): a parsed field must lie within
/// the input it was parsed from, not in some other buffer. An empty slice may be a constant
/// (`&[]`) and is accepted anywhere.
pub fn within(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    inner.is_empty() || i >= o && i + inner.len() <= o + outer.len()
}

/// Rebuilds a device head from records `u32le offset, u32le length, bytes` (the format of
/// tests/fixtures/*/*.sparse, so the fixtures are seeds as they are): zeros elsewhere, as
/// long as the furthest record reaches (a short device), never more than `max`. A record
/// cut short by the end of the input keeps the bytes that are there.
pub fn sparse(mut data: &[u8], max: usize) -> Vec<u8> {
    let mut head = Vec::new();
    while data.len() >= 8 {
        let off = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize % (max + 1);
        let len = u32::from_le_bytes(data[4..8].try_into().unwrap()) as usize;
        let bytes = &data[8..];
        let bytes = &bytes[..len.min(bytes.len())];
        data = &data[8 + bytes.len()..];
        let end = (off + bytes.len()).min(max);
        if head.len() < end {
            head.resize(end, 0);
        }
        head[off..end].copy_from_slice(&bytes[..end - off]);
    }
    head
}

/// Splits the input into `N` parts at the first `N - 1` occurrences of `sep`; missing parts
/// are empty.
pub fn split<const N: usize>(data: &[u8], sep: u8) -> [&[u8]; N] {
    let mut parts = [&data[..0]; N];
    let mut rest = data;
    for (i, part) in parts.iter_mut().enumerate() {
        if i + 1 == N {
            *part = rest;
            break;
        }
        match rest.iter().position(|&c| c == sep) {
            Some(at) => {
                *part = &rest[..at];
                rest = &rest[at + 1..];
            }
            None => {
                *part = rest;
                rest = &rest[rest.len()..];
            }
        }
    }
    parts
}
