//! The intake's side of the write-ahead log: blocks written as they are cut, the log's part of
//! the driver checkpoint, and the blocks read back from it after a restart.

use super::*;

/// Where an executor running a receiver of placement generation `g` numbers its log's
/// segments from (`g << 32`): after every earlier run's.
const SEGMENT_GENERATION_SHIFT: u32 = 32;

/// A receiver stream's part of the driver checkpoint (with the write-ahead log on).
#[derive(Serialize, Deserialize)]
pub(super) struct SavedLog {
    dir: PathBuf,
    batches: Vec<(Time, Vec<WalRef>, usize)>,
    /// Logged blocks not yet allocated to a batch.
    unallocated: Vec<WalRef>,
    last_ref: Option<WalRef>,
}

impl<T: Data> Intake<T> {
    /// Appends the blocks of one cut to the log with one write and one sync; all None if they
    /// could not be written (reported).
    pub(super) fn log_blocks(
        &self,
        wal: &mut WriteAheadLog,
        pieces: &[Received<T>],
    ) -> Vec<Option<WalRef>> {
        // The frames' buffers are the log's, reused cut after cut.
        let mut frames = std::mem::take(&mut wal.frames);
        frames.resize_with(pieces.len(), Vec::new);
        let logged = pieces
            .iter()
            .zip(frames.iter_mut())
            .map(|(piece, frame)| piece.log_pieces(frame))
            .collect::<Result<Vec<Vec<&[u8]>>>>()
            .map_err(crate::Error::from)
            .and_then(|records| {
                let refs = wal.append_all(&records)?;
                let written: u64 = refs
                    .iter()
                    .map(|r| u64::from(r.len) + crate::recovery::wal::HEADER)
                    .sum();
                self.counters
                    .wal_bytes
                    .fetch_add(written, Ordering::Relaxed);
                Ok(refs)
            });
        wal.frames = frames;
        match logged {
            Ok(refs) => refs.into_iter().map(Some).collect(),
            Err(e) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                let records: usize = pieces.iter().map(Received::len).sum();
                tracing::error!(
                    "{}: could not write {} block(s) of {records} records to the write-ahead log: {e}",
                    self.stream,
                    pieces.len()
                );
                vec![None; pieces.len()]
            }
        }
    }

    /// Whether the write-ahead log is on.
    pub(crate) fn is_logging(&self) -> bool {
        self.logging.load(Ordering::Acquire)
    }

    /// Stops accepting records; waiting producers return.
    /// Turns the write-ahead log on: blocks sealed from now on are logged in `dir`.
    pub(crate) fn enable_wal(&self, dir: &Path, rolling: Duration) -> crate::Result<()> {
        let (remote, hosting) = {
            let st = self.state.lock();
            (st.cluster.remote.is_some(), st.cluster.hosting.clone())
        };
        // A cluster driver whose receiver runs on an executor writes nothing: the executor
        // does, into the same directory, and reports where each block is.
        if !remote {
            let first = hosting.map_or(0, |h| h.generation << SEGMENT_GENERATION_SHIFT);
            let wal = WriteAheadLog::open_from(dir, rolling, first)?;
            *self.log.lock() = Some(wal);
        }
        self.state.lock().log_dir = Some(dir.to_path_buf());
        self.logging.store(true, Ordering::Release);
        Ok(())
    }

    /// On a cluster driver: block `id`, whose every copy went with lost executors, read back
    /// from the log its executor wrote and put in this process's store (the driver serves
    /// it from there). False if it was not logged.
    pub(crate) fn restore_lost(&self, id: InputBlockId) -> crate::Result<bool> {
        let (dir, at) = {
            let st = self.state.lock();
            let at = st
                .cluster
                .remote
                .as_ref()
                .and_then(|r| r.logged_at.get(&id).copied());
            match (st.log_dir.clone(), at) {
                (Some(dir), Some(at)) => (dir, at),
                _ => return Ok(false),
            }
        };
        let bytes = crate::recovery::wal::read(&dir, at)?;
        let records = Received::<T>::from_log(bytes, &dir.display().to_string())?;
        records.store(&self.ctx, id)?;
        tracing::warn!(
            "{}: block {id} had no copy left; read back from the write-ahead log",
            self.stream
        );
        Ok(true)
    }

    /// The log's part of the driver checkpoint. Reads the state only, not the log itself: a
    /// block being written meanwhile is found after `last_ref` on a restart.
    pub(super) fn snapshot_log(&self, keep_from: Time) -> Option<(Vec<u8>, Vec<PathBuf>)> {
        let mut st = self.state.lock();
        let after = keep_from + Duration::from_millis(1);
        let keep = st.logged.split_off(&after);
        st.logged = keep;
        let dir = st.log_dir.clone()?;
        let saved = SavedLog {
            dir: dir.clone(),
            batches: st
                .logged
                .iter()
                .map(|(t, (refs, n))| (*t, refs.clone(), *n))
                .collect(),
            unallocated: st.blocks.refs.clone(),
            last_ref: st.last_ref,
        };
        let oldest = saved
            .batches
            .iter()
            .flat_map(|b| b.1.iter())
            .chain(&saved.unallocated)
            .map(|r| r.segment)
            .min()
            .or(saved.last_ref.map(|r| r.segment));
        let files = oldest.map_or_else(Vec::new, |seg| {
            crate::recovery::wal::segment_paths_from(&dir, seg)
        });
        match spate_core::codec::encode(&saved) {
            Ok(bytes) => Some((bytes, files)),
            Err(e) => {
                tracing::error!(
                    "{}: could not checkpoint the log's records: {e}",
                    self.stream
                );
                None
            }
        }
    }

    /// Reads back the logged blocks of the saved batches, and every logged block written
    /// after them (received, maybe acknowledged, not yet in a batch: it goes to the next).
    pub(super) fn restore_log(&self, saved: &[u8]) -> crate::Result<()> {
        let saved: SavedLog = spate_core::codec::decode(saved, "a receiver's checkpoint")?;
        let origin = saved.dir.display().to_string();
        let read_block = |at: WalRef| -> crate::Result<Received<T>> {
            let bytes = crate::recovery::wal::read(&saved.dir, at)?;
            Ok(Received::from_log(bytes, &origin)?)
        };
        let mut st = self.state.lock();
        for (time, refs, _) in &saved.batches {
            let mut blocks = BlockSet::default();
            for at in refs {
                let records = read_block(*at)?;
                let n = records.len();
                let id = self.put_restored(&mut st, records)?;
                blocks.add(id, Some(*at), n);
            }
            st.pending += blocks.pending;
            st.logged.insert(*time, (refs.clone(), blocks.records));
            st.allocated.insert(*time, blocks);
        }
        let mut later: Vec<(WalRef, Received<T>)> = Vec::new();
        for at in &saved.unallocated {
            later.push((*at, read_block(*at)?));
        }
        for (at, bytes) in crate::recovery::wal::records_after(&saved.dir, saved.last_ref) {
            later.push((at, Received::from_log(bytes, &origin)?));
        }
        for (at, records) in later {
            let n = records.len();
            let id = self.put_restored(&mut st, records)?;
            st.blocks.add(id, Some(at), n);
            st.pending += n;
            st.last_ref = Some(at);
        }
        st.last_ref = st.last_ref.max(saved.last_ref);
        Ok(())
    }

    pub(super) fn put_restored(
        &self,
        st: &mut IntakeState<T>,
        records: Received<T>,
    ) -> crate::Result<InputBlockId> {
        let id = self.next_block_id(st);
        records.store(&self.ctx, id)?;
        Ok(id)
    }
}
