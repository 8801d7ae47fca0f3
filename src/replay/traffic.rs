//! [`Traffic`]: a sequence of recorded (or synthetic) requests in arrival order, read from
//! the JSON-lines files a [`Recorder`](super::Recorder) writes.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::record::TrafficRecord;
use super::rotating::numbered;

/// Requests in arrival order: what [`Behaviours::fit`](super::Behaviours::fit) learns from
/// and [`Replay`](super::Replay) sends again.
///
/// ```
/// use routewise::replay::Traffic;
///
/// let file = "{\"unix_ms\":2000,\"step\":\"inference\",\"purpose\":\"chat\",\"input_tokens\":10,\"outcome\":\"ok\",\"latency_us\":1}\n\
///             {\"unix_ms\":1000,\"step\":\"inference\",\"purpose\":\"classification\",\"input_tokens\":5,\"outcome\":\"ok\",\"latency_us\":1}\n";
/// let traffic = Traffic::parse(file.as_bytes(), "inline")?;
/// assert_eq!(traffic.len(), 2);
/// assert_eq!(traffic.records()[0].unix_ms, 1000, "sorted by arrival");
/// # Ok::<(), routewise::replay::TrafficError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Traffic {
    records: Vec<TrafficRecord>,
}

/// A traffic file that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrafficError {
    /// The file could not be opened or read.
    #[error("cannot read traffic file `{}`", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a traffic record.
    #[error("traffic file `{}`, line {line}: not a traffic record; each line must be one JSON object as the recorder writes it", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line, counting from 1.
        line: usize,
        /// What is wrong with it.
        #[source]
        source: serde_json::Error,
    },
}

impl Traffic {
    /// Traffic made of `records` (synthetic or edited), put in arrival order.
    pub fn from_records(records: impl IntoIterator<Item = TrafficRecord>) -> Self {
        let mut records: Vec<TrafficRecord> = records.into_iter().collect();
        records.sort_by_key(|r| r.unix_ms);
        Self { records }
    }

    /// Reads one traffic file. Blank lines are skipped.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or a line is not a record (its line number is given).
    pub fn read(path: impl AsRef<Path>) -> Result<Self, TrafficError> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|source| TrafficError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(std::io::BufReader::new(file), path)
    }

    /// Reads a rotated set: `path.N` (oldest) ... `path.1`, then `path`, skipping numbers
    /// that do not exist.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read), for any file of the set.
    pub fn read_rotated(path: impl AsRef<Path>) -> Result<Self, TrafficError> {
        let path = path.as_ref();
        let mut older = Vec::new();
        let mut n = 1;
        while numbered(path, n).exists() {
            older.push(numbered(path, n));
            n += 1;
        }
        let mut records = Vec::new();
        for file in older.iter().rev().map(PathBuf::as_path).chain([path]) {
            records.extend(Self::read(file)?.records);
        }
        Ok(Self::from_records(records))
    }

    /// Parses traffic lines from `reader`; `origin` names it in errors.
    ///
    /// # Errors
    ///
    /// Reading fails, or a line is not a record.
    pub fn parse(reader: impl BufRead, origin: impl AsRef<Path>) -> Result<Self, TrafficError> {
        let path = origin.as_ref();
        let mut records = Vec::new();
        for (index, line) in reader.lines().enumerate() {
            let line = line.map_err(|source| TrafficError::Io {
                path: path.to_owned(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let record = serde_json::from_str(&line).map_err(|source| TrafficError::Parse {
                path: path.to_owned(),
                line: index + 1,
                source,
            })?;
            records.push(record);
        }
        Ok(Self::from_records(records))
    }

    /// The records, in arrival order.
    pub fn records(&self) -> &[TrafficRecord] {
        &self.records
    }

    /// How many requests.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// When the first request arrived (ms since the Unix epoch; 0 for no traffic).
    pub fn start_unix_ms(&self) -> u64 {
        self.records.first().map_or(0, |r| r.unix_ms)
    }

    /// Writes the traffic as JSON lines, the recorder's format.
    ///
    /// # Errors
    ///
    /// The writer's error.
    pub fn write(&self, mut writer: impl std::io::Write) -> std::io::Result<()> {
        for record in &self.records {
            serde_json::to_writer(&mut writer, record)?;
            writer.write_all(b"\n")?;
        }
        Ok(())
    }
}
