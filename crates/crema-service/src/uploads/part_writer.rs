//! Storing one upload part: the request body is read on the async runtime
//! while one blocking task per part writes it, fsyncs it, renames it into
//! place and fsyncs the folder (the crash rules are in the parent module's
//! docs).
//!
//! Why one task: a part written through `tokio::fs` costs one blocking-pool
//! hop per write plus one each for the flush, the fsync, the rename and the
//! folder fsync, and the body is not read while a write waits. Here the body
//! fills [`WRITE_BUFFER`]-sized buffers that are handed to the writer through
//! a channel of [`BUFFERS`] slots (double buffering: the next buffer fills
//! from the socket while the previous one goes to the page cache), and the
//! empty buffers come back for reuse, so a part allocates at most
//! `BUFFERS × WRITE_BUFFER` bytes whatever its size. Measured with
//! `cargo bench -p crema-server --bench api` (docs/benchmarks.md).

use crate::error::{Result, ServiceError};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

/// Size of one write to the part file, bytes (4 MiB: an 8 MiB part, the
/// contract's tier from 64 MB to 1 GB, is two writes).
const WRITE_BUFFER: usize = 4 << 20;

/// Buffers per part: one being filled from the body, one being written.
const BUFFERS: usize = 2;

/// What the body reader sends the writer.
enum Chunk {
    /// Bytes to append, in a buffer to give back once written.
    Data(Vec<u8>),
    /// The body was complete and of the right size: make the part durable.
    Finish,
}

/// Where a part goes: `tmp` (created new) is written and fsynced, then
/// renamed to `dest`, and `dir` (the folder holding both) is fsynced.
pub(super) struct PartFiles {
    pub tmp: PathBuf,
    pub dest: PathBuf,
    pub dir: PathBuf,
}

/// Reads exactly `expected` bytes of part `part_number` from `body` into
/// `files.tmp` and makes it durable as `files.dest` (see [`PartFiles`]). On
/// any error the temp file is removed and `files.dest` is as before (a
/// re-sent part that fails keeps the earlier, complete file).
///
/// Errors: [`ServiceError::Validation`] (field `body`) for a body shorter
/// than `expected` or one that cannot be read; [`ServiceError::PayloadTooLarge`]
/// for a longer body; file faults go through `fault` with the path involved
/// (the caller maps a full disk to `CapacityExceeded`).
pub(super) async fn store_part<R: AsyncRead + Unpin + Send>(
    files: PartFiles,
    body: R,
    expected: u64,
    part_number: u64,
    fault: &impl Fn(&dyn std::fmt::Display, std::io::Error) -> ServiceError,
) -> Result<()> {
    let (to_writer, from_reader) = mpsc::channel::<Chunk>(BUFFERS);
    let (give_back, mut returned) = mpsc::channel::<Vec<u8>>(BUFFERS);
    let buffer_len = WRITE_BUFFER.min(expected as usize + 1);
    let writer = tokio::task::spawn_blocking(move || write_durably(files, from_reader, give_back));
    let read = read_body(body, expected, part_number, buffer_len, &to_writer, &mut returned).await;
    if read.is_ok() {
        // A send fails only when the writer stopped on an error, which its result carries.
        let _ = to_writer.send(Chunk::Finish).await;
    }
    drop(to_writer);
    let written = writer.await.map_err(|e| ServiceError::Internal(format!("storing an upload part: {e}")))?;
    match (read, written) {
        // A file fault is the cause when both failed (a reader error may be only the writer going away).
        (_, Err((path, e))) => Err(fault(&path.display(), e)),
        (Err(e), Ok(())) => Err(e),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// The async half: fills buffers from `body` and sends them to the writer,
/// checking the size. Stops early (returning `Ok`) when the writer went away.
async fn read_body<R: AsyncRead + Unpin>(
    body: R,
    expected: u64,
    part_number: u64,
    buffer_len: usize,
    to_writer: &mpsc::Sender<Chunk>,
    returned: &mut mpsc::Receiver<Vec<u8>>,
) -> Result<()> {
    let mut body = body.take(expected + 1);
    let mut spare = BUFFERS;
    let mut total = 0u64;
    loop {
        let mut buf = if spare > 0 {
            spare -= 1;
            vec![0u8; buffer_len]
        } else {
            match returned.recv().await {
                Some(b) => b,
                None => return Ok(()),
            }
        };
        let mut filled = 0;
        while filled < buf.len() {
            let n = body
                .read(&mut buf[filled..])
                .await
                .map_err(|e| ServiceError::validation("body", format!("reading part {part_number} failed: {e}")))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        total += filled as u64;
        if total > expected {
            return Err(ServiceError::PayloadTooLarge(format!(
                "part {part_number} must be exactly {expected} bytes; more were sent"
            )));
        }
        let last = filled < buf.len();
        if filled > 0 {
            buf.truncate(filled);
            if to_writer.send(Chunk::Data(buf)).await.is_err() {
                return Ok(());
            }
        }
        if last {
            break;
        }
    }
    if total < expected {
        return Err(ServiceError::validation(
            "body",
            format!("part {part_number} must be exactly {expected} bytes, got {total}"),
        ));
    }
    Ok(())
}

/// The blocking half: appends every buffer to the temp file; on
/// [`Chunk::Finish`] fsyncs it, renames it into place and fsyncs the folder.
/// When the reader goes away without `Finish`, or a step fails, the temp file
/// is removed. The error names the path that failed.
fn write_durably(
    files: PartFiles,
    mut chunks: mpsc::Receiver<Chunk>,
    give_back: mpsc::Sender<Vec<u8>>,
) -> std::result::Result<(), (PathBuf, std::io::Error)> {
    let PartFiles { tmp, dest, dir } = files;
    let at = |p: &Path| {
        let p = p.to_path_buf();
        move |e| (p, e)
    };
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(at(&tmp))?;
        loop {
            match chunks.blocking_recv() {
                Some(Chunk::Data(mut buf)) => {
                    file.write_all(&buf).map_err(at(&tmp))?;
                    // Restore the full length for the next fill; the reader owns the contents.
                    let cap = buf.capacity();
                    buf.resize(cap, 0);
                    let _ = give_back.try_send(buf);
                }
                Some(Chunk::Finish) => break,
                // The body was short, too long or unreadable: nothing is stored.
                None => return Ok(false),
            }
        }
        file.sync_all().map_err(at(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, &dest).map_err(at(&dest))?;
        super::files::sync_dir(&dir).map_err(at(&dest))?;
        Ok(true)
    })();
    match result {
        Ok(true) => Ok(()),
        Ok(false) => {
            let _ = std::fs::remove_file(&tmp);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> PartFiles {
        PartFiles { tmp: dir.join(".tmp-part-000000-x"), dest: dir.join("part-000000"), dir: dir.to_path_buf() }
    }

    fn fault(_: &dyn std::fmt::Display, e: std::io::Error) -> ServiceError {
        ServiceError::Internal(e.to_string())
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_part_larger_than_the_buffers_is_stored_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        // Three and a half buffers, so buffers are reused and the last one is partial.
        let data: Vec<u8> = (0..WRITE_BUFFER * 7 / 2).map(|i| (i * 31 % 251) as u8).collect();
        store_part(files(dir.path()), &data[..], data.len() as u64, 0, &fault).await.unwrap();
        assert_eq!(entries(dir.path()), ["part-000000"]);
        assert!(std::fs::read(dir.path().join("part-000000")).unwrap() == data);
    }

    #[tokio::test]
    async fn a_short_or_long_body_stores_nothing_and_keeps_the_earlier_part() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("part-000000"), b"earlier").unwrap();
        let data = vec![7u8; 1000];
        let short = store_part(files(dir.path()), &data[..999], 1000, 0, &fault).await.unwrap_err();
        assert!(matches!(short, ServiceError::Validation { .. }), "{short:?}");
        assert!(short.to_string().contains("got 999"), "{short}");
        let long = store_part(files(dir.path()), &[0u8; 1001][..], 1000, 0, &fault).await.unwrap_err();
        assert!(matches!(long, ServiceError::PayloadTooLarge(_)), "{long:?}");
        assert_eq!(entries(dir.path()), ["part-000000"]);
        assert_eq!(std::fs::read(dir.path().join("part-000000")).unwrap(), b"earlier");
        // The same body of the right size replaces it.
        store_part(files(dir.path()), &data[..], 1000, 0, &fault).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("part-000000")).unwrap(), data);
    }

    #[tokio::test]
    async fn a_file_fault_names_the_path_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone");
        let err = store_part(files(&missing), &[1u8; 10][..], 10, 0, &|what, e| {
            ServiceError::Internal(format!("{what}: {e}"))
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains(".tmp-part-000000-x"), "{err}");
        assert!(entries(dir.path()).is_empty());
    }
}
