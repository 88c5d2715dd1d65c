//! Received input blocks on the wire, as every cluster process sends and takes them: a block
//! of received lines goes as its bytes with a crc32 (one copy, not re-encoded per line), any
//! other block as a codec frame of its records. The executors hold received blocks (the
//! receiving one and one replica); the driver only tracks where they are (`driver/inputs`).

use std::sync::Arc;

use super::rpc::pb;
use crate::context::FetchedInput;
use crate::error::{Error, Result};
use crate::ids::InputBlockId;
use crate::storage::{BlockId, BlockStore};

/// A received block as it crosses the network.
pub(crate) struct WireBlock {
    pub(crate) frame: Vec<u8>,
    pub(crate) raw_lines: bool,
    pub(crate) crc32: u32,
}

impl WireBlock {
    /// Block `id` of `blocks` in its wire form; `None` when not stored here.
    pub(crate) fn of(blocks: &BlockStore, id: InputBlockId) -> Option<Result<WireBlock>> {
        let block = BlockId::Input(id);
        if let Some(lines) = blocks.input_lines(block) {
            let frame = lines.raw_bytes();
            return Some(Ok(WireBlock {
                crc32: crc32fast::hash(&frame),
                frame,
                raw_lines: true,
            }));
        }
        Some(blocks.encoded(block)?.map(|frame| WireBlock {
            frame,
            raw_lines: false,
            crc32: 0,
        }))
    }

    /// The block as a task reads it, its checksum checked; `origin` names the sender.
    pub(crate) fn into_fetched(self, id: InputBlockId, origin: &str) -> Result<FetchedInput> {
        if !self.raw_lines {
            return Ok(FetchedInput::Frame(self.frame));
        }
        if crc32fast::hash(&self.frame) != self.crc32 {
            return Err(Error::Corrupt {
                path: format!("input block {id} from {origin}").into(),
                reason: "checksum mismatch".into(),
            });
        }
        Ok(FetchedInput::Lines(self.frame))
    }

    /// Stores the block in `blocks` under `id` (a replica): lines as lines, records as their
    /// frame, decoded when a task reads them.
    pub(crate) fn store(self, blocks: &BlockStore, id: InputBlockId, origin: &str) -> Result<()> {
        match self.into_fetched(id, origin)? {
            FetchedInput::Lines(bytes) => {
                let buf = Arc::new(bytes);
                let mut lines = crate::TextLines::new();
                lines.push(&buf, 0..buf.len(), usize::MAX)?;
                blocks.put_input_lines(id, Arc::new(lines))
            }
            FetchedInput::Frame(frame) => blocks.put_input_frame(id, frame),
        }
    }

    pub(crate) fn reply(self) -> pb::InputBlockReply {
        pb::InputBlockReply {
            frame: self.frame,
            raw_lines: self.raw_lines,
            crc32: self.crc32,
            ..pb::InputBlockReply::default()
        }
    }

    pub(crate) fn from_reply(r: pb::InputBlockReply) -> WireBlock {
        WireBlock {
            frame: r.frame,
            raw_lines: r.raw_lines,
            crc32: r.crc32,
        }
    }

    pub(crate) fn copy(self, id: InputBlockId) -> pb::InputBlockCopy {
        pb::InputBlockCopy {
            stream: id.stream,
            seq: id.seq,
            frame: self.frame,
            raw_lines: self.raw_lines,
            crc32: self.crc32,
        }
    }

    pub(crate) fn from_copy(c: pb::InputBlockCopy) -> (InputBlockId, WireBlock) {
        let id = InputBlockId {
            stream: c.stream,
            seq: c.seq,
        };
        let wire = WireBlock {
            frame: c.frame,
            raw_lines: c.raw_lines,
            crc32: c.crc32,
        };
        (id, wire)
    }
}

/// A block's reply when the process asked does not hold it.
pub(crate) fn missing_reply(holders: Vec<String>, lost_reason: String) -> pb::InputBlockReply {
    pb::InputBlockReply {
        missing: true,
        holders,
        lost_reason,
        ..pb::InputBlockReply::default()
    }
}

/// Serves block `id` from `blocks` (an executor's `FetchInputBlock`), off the reactor.
pub(crate) fn serve_block(
    blocks: Arc<BlockStore>,
    id: InputBlockId,
) -> std::result::Result<pb::InputBlockReply, tonic::Status> {
    match WireBlock::of(&blocks, id) {
        Some(Ok(wire)) => Ok(wire.reply()),
        Some(Err(e)) => Err(tonic::Status::internal(e.to_string())),
        None => Ok(missing_reply(Vec::new(), String::new())),
    }
}
