//! The start-up checkpoint: the public catalog's index saved to a file with the outbox position
//! it stands at, so that a restart loads it instead of reading every shared model from the
//! database and indexing it again (seconds at a million models).
//!
//! # When it is written
//!
//! When the service stops ([`Catalog::save_checkpoint`](crate::Catalog::save_checkpoint)), and
//! every `catalog.checkpoint_interval_ms` while the catalog changed since the last one (so a
//! crash leaves a recent one). The position saved is the outbox tail's after a completed read:
//! every event up to it was applied before the index was taken, so the index holds at least
//! that state (events applied after it are read again on restart, which is harmless). The
//! file is written to a temporary name, synced and renamed: a reader sees a whole file or the
//! previous one.
//!
//! # When it is trusted
//!
//! Only when all of these hold, else the catalog is loaded from the database as without one:
//!
//! * the file is whole (its length and the CRC-32 of its header and of each section match) and
//!   decodes ([`Corrupt`] otherwise);
//! * it names this database's identity (the `database_identity` row, made with the schema): not
//!   another database's, nor one made anew at the same path;
//! * the outbox still holds the saved position's event, same model and time (a database
//!   restored from an older backup does not);
//! * at most [`MOST_BEHIND`] events were written since: catching up on them is faster than a
//!   load.
//!
//! Then the service catches up on the outbox before it is ready, as every start does, and right
//! after it reads every shared model's version and endpoint count and repairs what differs
//! (a change written to the database without an event, or an endpoint made while this instance
//! was down).

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use domain::ModelId;
use storage::{OutboxCursor, StorageError, Store};
use uuid::Uuid;

use crate::index::{CatalogIndex, Corrupt, SECTIONS, Saving, Sink};

/// The file's first bytes: what it is, and the version of its layout.
const MAGIC: &[u8; 8] = b"MSCATCK2";

/// The most outbox events a checkpoint may be behind to be used.
pub(crate) const MOST_BEHIND: i64 = 20_000;

/// Where the outbox stood when the index was saved, and which database it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) identity: String,
    /// The newest event id the tail had applied.
    pub(crate) newest: i64,
    /// That event's model and time (seconds); `None` when the outbox was empty.
    pub(crate) event: Option<(ModelId, i64)>,
    /// PostgreSQL: the tail's last final event.
    pub(crate) final_cursor: Option<OutboxCursor>,
}

/// Why a checkpoint was not used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unusable {
    #[error("unreadable: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Corrupt(#[from] Corrupt),
    #[error("{0}")]
    Stale(&'static str),
}

/// The mark of the tail's position `newest` (and `final_cursor`) in `store`'s database.
pub(crate) async fn mark(
    store: &Store,
    newest: i64,
    final_cursor: Option<OutboxCursor>,
) -> Result<Mark, StorageError> {
    let identity = store.database_identity().await?;
    let event = event_at(store, newest).await?;
    Ok(Mark {
        identity,
        newest,
        event,
        final_cursor,
    })
}

/// The model and time of the event numbered `id`, if the outbox holds it.
async fn event_at(store: &Store, id: i64) -> Result<Option<(ModelId, i64)>, StorageError> {
    if id <= 0 {
        return Ok(None);
    }
    let events = store.outbox_after_id(id - 1, 1).await?;
    Ok(events
        .first()
        .filter(|e| e.id == id)
        .map(|e| (e.model_id, e.at.as_datetime().timestamp())))
}

/// Whether `mark` describes a state of `store`'s database that catching up can bring to now.
pub(crate) async fn check(
    store: &Store,
    mark: &Mark,
) -> Result<Result<(), Unusable>, StorageError> {
    if store.database_identity().await? != mark.identity {
        return Ok(Err(Unusable::Stale("it was taken from another database")));
    }
    if event_at(store, mark.newest).await? != mark.event {
        return Ok(Err(Unusable::Stale(
            "the outbox no longer holds its position (a database restored from an older copy?)",
        )));
    }
    if store.max_share_event_id().await? - mark.newest > MOST_BEHIND {
        return Ok(Err(Unusable::Stale(
            "it is too far behind the outbox: a load is faster",
        )));
    }
    Ok(Ok(()))
}

/// Writes `mark` and `saving` to `path` (through a temporary file, synced, then renamed);
/// returns the bytes written. Blocking: run it off the actors' thread. The index is written
/// as it is encoded, never whole in memory.
///
/// The layout: [`MAGIC`]; the header's length, the header (the mark, the index's head, and
/// each section's length and CRC-32) and the header's CRC-32; then the sections, in order.
/// Each section is read and checked on the thread that decodes it. The header's size does
/// not depend on the sections, so it is written last, over its place.
pub(crate) fn write(path: &Path, mark: &Mark, saving: &Saving) -> std::io::Result<u64> {
    let header = |table: &[(u64, u32)]| {
        let mut header = Vec::new();
        put_mark(&mut header, mark);
        put_bytes(&mut header, &saving.head());
        for (len, crc) in table {
            header.extend_from_slice(&len.to_le_bytes());
            header.extend_from_slice(&crc.to_le_bytes());
        }
        header
    };
    let placeholder = header(&[(0, 0); SECTIONS]);
    let temporary = temporary(path);
    let written = (|| {
        let mut sink = FileSink {
            file: std::io::BufWriter::new(std::fs::File::create(&temporary)?),
            crc: crc32fast::Hasher::new(),
            len: 0,
            table: Vec::with_capacity(SECTIONS),
        };
        sink.file.write_all(MAGIC)?;
        sink.file.write_all(
            &u32::try_from(placeholder.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        )?;
        sink.file.write_all(&placeholder)?;
        sink.file.write_all(&[0; 4])?;
        saving.encode(&mut sink)?;
        let header = header(&sink.table);
        let sections: u64 = sink.table.iter().map(|(len, _)| len).sum();
        let mut file = sink
            .file
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        file.seek(std::io::SeekFrom::Start(len_u64(MAGIC.len()) + 4))?;
        file.write_all(&header)?;
        file.write_all(&crc32fast::hash(&header).to_le_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        Ok(len_u64(MAGIC.len() + 8 + header.len()) + sections)
    })();
    if written.is_err() {
        // Best effort: a failed write leaves no partial file behind (the old one stays).
        let _ = std::fs::remove_file(&temporary);
        return written;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename lasts a crash once the folder is synced; without it, the old file stays.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    written
}

/// The sections of a checkpoint being written, and each one's length and CRC-32.
struct FileSink {
    file: std::io::BufWriter<std::fs::File>,
    crc: crc32fast::Hasher,
    len: u64,
    table: Vec<(u64, u32)>,
}

impl Sink for FileSink {
    fn take(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.crc.update(bytes);
        self.len += len_u64(bytes.len());
        Ok(())
    }

    fn end_section(&mut self) -> std::io::Result<()> {
        let crc = std::mem::take(&mut self.crc).finalize();
        self.table.push((std::mem::take(&mut self.len), crc));
        Ok(())
    }
}

fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// A name next to `path` that no other process writes.
fn temporary(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        Uuid::new_v4().simple()
    ));
    PathBuf::from(name)
}

/// The checkpoint at `path`: `None` when there is no file. Blocking.
pub(crate) fn read(path: &Path) -> Result<Option<(Mark, CatalogIndex)>, Unusable> {
    use std::os::unix::fs::FileExt;
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let size = file.metadata()?.len();
    let read_at = |at: u64, len: u64| -> Result<Vec<u8>, Unusable> {
        let end = at.checked_add(len).ok_or(Corrupt("cut short"))?;
        if end > size {
            return Err(Corrupt("cut short").into());
        }
        let mut bytes = vec![0; usize::try_from(len).map_err(|_| Corrupt("cut short"))?];
        file.read_exact_at(&mut bytes, at)?;
        Ok(bytes)
    };
    let start = read_at(0, len_u64(MAGIC.len()) + 4)?;
    let (magic, header_len) = start.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(Corrupt("not a checkpoint of this version").into());
    }
    let header_len = header_len
        .try_into()
        .map(u32::from_le_bytes)
        .unwrap_or_default();
    let header_at = len_u64(start.len());
    let header = read_at(header_at, u64::from(header_len) + 4)?;
    let (header, crc) = header.split_at(header.len().saturating_sub(4));
    if crc.try_into().map(u32::from_le_bytes).ok() != Some(crc32fast::hash(header)) {
        return Err(Corrupt("its checksum does not match").into());
    }
    let mut at = 0;
    let mark = take_mark(header, &mut at)?;
    let head = take_bytes(header, &mut at)?;
    let mut table = [(0_u64, 0_u64, 0_u32); SECTIONS];
    let mut next = header_at + u64::from(header_len) + 4;
    for entry in &mut table {
        let len = u64::from_le_bytes(take_array(header, &mut at)?);
        let crc = u32::from_le_bytes(take_array(header, &mut at)?);
        *entry = (next, len, crc);
        next = next.checked_add(len).ok_or(Corrupt("cut short"))?;
    }
    if at != header.len() || next != size {
        return Err(Corrupt("its length does not match").into());
    }
    let index = CatalogIndex::decode(head, |place| {
        let &(at, len, crc) = table.get(place).ok_or(Corrupt("no such section"))?;
        let bytes = read_at(at, len)?;
        if crc32fast::hash(&bytes) != crc {
            return Err(Unusable::from(Corrupt("its checksum does not match")));
        }
        Ok(bytes)
    })?;
    Ok(Some((mark, index)))
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn take<'a>(body: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], Corrupt> {
    let end = at.checked_add(n).ok_or(Corrupt("cut short"))?;
    let taken = body.get(*at..end).ok_or(Corrupt("cut short"))?;
    *at = end;
    Ok(taken)
}

fn take_array<const N: usize>(body: &[u8], at: &mut usize) -> Result<[u8; N], Corrupt> {
    take(body, at, N)?
        .try_into()
        .map_err(|_| Corrupt("cut short"))
}

fn take_bytes<'a>(body: &'a [u8], at: &mut usize) -> Result<&'a [u8], Corrupt> {
    let len = u32::from_le_bytes(take_array(body, at)?);
    take(
        body,
        at,
        usize::try_from(len).map_err(|_| Corrupt("cut short"))?,
    )
}

fn put_mark(out: &mut Vec<u8>, mark: &Mark) {
    put_bytes(out, mark.identity.as_bytes());
    out.extend_from_slice(&mark.newest.to_le_bytes());
    match mark.event {
        None => out.push(0),
        Some((model, at)) => {
            out.push(1);
            out.extend_from_slice(model.as_uuid().as_bytes());
            out.extend_from_slice(&at.to_le_bytes());
        }
    }
    match mark.final_cursor {
        None => out.push(0),
        Some(cursor) => {
            out.push(1);
            out.extend_from_slice(&cursor.tx.to_le_bytes());
            out.extend_from_slice(&cursor.id.to_le_bytes());
        }
    }
}

fn take_mark(body: &[u8], at: &mut usize) -> Result<Mark, Corrupt> {
    let identity = std::str::from_utf8(take_bytes(body, at)?)
        .map_err(|_| Corrupt("text is not UTF-8"))?
        .to_owned();
    let newest = i64::from_le_bytes(take_array(body, at)?);
    let event = match take_array(body, at)? {
        [0] => None,
        [1] => {
            let id = Uuid::from_bytes(take_array(body, at)?);
            Some((
                ModelId::from_uuid(id),
                i64::from_le_bytes(take_array(body, at)?),
            ))
        }
        _ => return Err(Corrupt("bad option tag")),
    };
    let final_cursor = match take_array(body, at)? {
        [0] => None,
        [1] => Some(OutboxCursor {
            tx: i64::from_le_bytes(take_array(body, at)?),
            id: i64::from_le_bytes(take_array(body, at)?),
        }),
        _ => return Err(Corrupt("bad option tag")),
    };
    Ok(Mark {
        identity,
        newest,
        event,
        final_cursor,
    })
}
