//! A check of SQLite's write-ahead log before the database is opened.
//!
//! SQLite reads a WAL up to its first frame that fails its checksum and silently ignores the rest,
//! so a WAL damaged in the middle opens as a database that has lost transactions it once
//! acknowledged. This check reads the WAL as SQLite's file format describes it (a 32-byte
//! header, then frames of a 24-byte header and one page; a running checksum over both) and
//! reports damage when a *commit* frame of the current WAL generation (its salts match the
//! header's) lies beyond the first frame that fails: that transaction was committed, and SQLite
//! would drop it. Frames after a break that belong to no commit (a transaction cut short by a
//! crash before it committed) are not damage: nothing acknowledged is in them.

use std::path::Path;

/// Why the WAL next to a database cannot be trusted, if it cannot.
pub fn damage(wal: &Path) -> Option<String> {
    let bytes = std::fs::read(wal).ok()?;
    if bytes.len() < 32 {
        return None; // empty or never written: nothing to lose
    }
    let be32 = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let big_endian = match be32(0) {
        0x377f_0683 => true,
        0x377f_0682 => false,
        _ => return Some("its header is not a WAL header".into()),
    };
    let page_size = be32(8) as usize;
    let page_size = if page_size == 1 { 65_536 } else { page_size };
    if !(512..=65_536).contains(&page_size) || !page_size.is_power_of_two() {
        return Some(format!("its header gives a page size of {page_size}"));
    }
    let header_sum = checksum((0, 0), &bytes[..24], big_endian);
    if header_sum != (be32(24), be32(28)) {
        return Some("its header fails its checksum".into());
    }
    let salts = (be32(16), be32(20));
    let frame_len = 24 + page_size;
    let mut sum = header_sum;
    let mut at = 32;
    let mut broken_at = None;
    let mut frame = 0usize;
    while at + frame_len <= bytes.len() {
        let salt = (be32(at + 8), be32(at + 12));
        let commit = be32(at + 4) != 0;
        match broken_at {
            None => {
                if salt != salts {
                    return None; // stale frames of an earlier generation: the log ends here
                }
                let next = checksum(sum, &bytes[at..at + 8], big_endian);
                let next = checksum(next, &bytes[at + 24..at + frame_len], big_endian);
                if next != (be32(at + 16), be32(at + 20)) {
                    broken_at = Some(frame);
                } else {
                    sum = next;
                }
            }
            Some(first_bad) => {
                if salt == salts && commit {
                    return Some(format!(
                        "frame {first_bad} fails its checksum and a committed transaction \
                         follows it (frame {frame}): SQLite would drop committed writes"
                    ));
                }
            }
        }
        at += frame_len;
        frame += 1;
    }
    None
}

/// SQLite's WAL checksum: over pairs of 32-bit words, in the byte order the magic number says.
fn checksum(start: (u32, u32), data: &[u8], big_endian: bool) -> (u32, u32) {
    let (mut s0, mut s1) = start;
    for pair in data.chunks_exact(8) {
        let word = |b: &[u8]| {
            let b: [u8; 4] = b.try_into().expect("4 bytes");
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        s0 = s0.wrapping_add(word(&pair[..4]).wrapping_add(s1));
        s1 = s1.wrapping_add(word(&pair[4..]).wrapping_add(s0));
    }
    (s0, s1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL as SQLite leaves it when a process dies with transactions committed.
    fn live_wal(dir: &Path) -> Vec<u8> {
        let conn = rusqlite::Connection::open(dir.join("db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t(x BLOB);").unwrap();
        for i in 0..5 {
            conn.execute("INSERT INTO t VALUES (?1)", [vec![i as u8; 3000]])
                .unwrap();
        }
        let wal = std::fs::read(dir.join("db-wal")).unwrap();
        std::mem::forget(conn); // as a killed process would: no checkpoint, WAL kept
        wal
    }

    #[test]
    fn an_intact_wal_passes_and_a_damaged_middle_frame_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let wal = live_wal(dir.path());
        let path = dir.path().join("copy-wal");
        std::fs::write(&path, &wal).unwrap();
        assert_eq!(damage(&path), None);
        // A flipped byte in the first frame's page: every later commit would be dropped.
        let mut bad = wal.clone();
        bad[32 + 24 + 100] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        assert!(damage(&path)
            .unwrap()
            .contains("committed transaction follows"));
        // A torn tail (the last frame cut short) is no damage: it never committed.
        let torn = &wal[..wal.len() - 100];
        std::fs::write(&path, torn).unwrap();
        assert_eq!(damage(&path), None);
        // A damaged header: the whole log would be ignored.
        let mut header = wal.clone();
        header[18] ^= 1;
        std::fs::write(&path, &header).unwrap();
        assert!(damage(&path).unwrap().contains("header"));
    }
}
