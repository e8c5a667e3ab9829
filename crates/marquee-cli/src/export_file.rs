//! TMDB's daily id export as a file: its identity (the SHA-256 of its bytes) and its lines (un-
//! gzipped while read, when it is gzipped), handed to the library's import, which decides
//! everything else (`marquee::pipeline::import`). Shared by `marquee import tmdb-ids` and
//! `marquee bench backfill`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use anyhow::Context as _;
use marquee::pipeline::import::{ExportSource, ImportEvent, ImportOptions, ImportReport, import_export};
use marquee::ports::Connection;
use sha2::{Digest, Sha256};

/// Big reads: the file is read once, front to back.
const READ_BUFFER: usize = 256 * 1024;

/// The export's identity: its content, not its name, so a renamed copy resumes (or is a no-op)
/// and a new day's file under the same name is a new export.
pub fn identity(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; READ_BUFFER];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// The export's lines: un-gzipped when the file starts with gzip's magic bytes (TMDB's files
/// do), else read as they are. Gzip's checksum and length make a truncated download fail while
/// it is read, so the import never takes it for a complete export; a plain file has no such
/// check. `wrap` sees the raw file reader (e.g. to count bytes for a progress bar).
pub fn lines<R: Read + 'static>(path: &Path, wrap: impl FnOnce(File) -> R) -> io::Result<Box<dyn BufRead>> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 2];
    let gzipped = file.read(&mut magic)? == 2 && magic == [0x1f, 0x8b];
    io::Seek::rewind(&mut file)?;
    let raw = BufReader::with_capacity(READ_BUFFER, wrap(file));
    Ok(if gzipped {
        Box::new(BufReader::with_capacity(READ_BUFFER, flate2::bufread::MultiGzDecoder::new(raw)))
    } else {
        Box::new(raw)
    })
}

/// Imports the export at `path` through `conn`.
pub async fn import<R: Read + 'static>(
    conn: &impl Connection,
    path: &Path,
    options: &ImportOptions,
    wrap: impl FnOnce(File) -> R,
    on_event: &mut dyn FnMut(ImportEvent<'_>),
) -> anyhow::Result<ImportReport> {
    let shown = path.display();
    let source = ExportSource {
        identity: identity(path).with_context(|| format!("cannot read {shown}"))?,
        name: path.file_name().map_or_else(|| shown.to_string(), |n| n.to_string_lossy().into_owned()),
    };
    let lines = lines(path, wrap).with_context(|| format!("cannot read {shown}"))?;
    Ok(import_export(conn, &source, lines, options, on_event).await?)
}
