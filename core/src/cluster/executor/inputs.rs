//! Received input on an executor: a receiver running here stores its blocks in this
//! executor's store, copies each to a second executor (`StoreInputBlock` on that one's
//! service), and reports them to the driver (`ReportInput`). A task reading a block this
//! executor does not hold asks the driver where it is and fetches it from a holder.

use super::*;
use crate::cluster::inputs::WireBlock;
use crate::context::ReportedBlock;
use crate::ids::InputBlockId;

impl ExecutorRuntime {
    /// Received block `block`: from the driver if it holds it (restored from the write-ahead
    /// log), else from an executor it names; lost, with the driver's reason, when none is left.
    pub(super) fn fetch_input(&self, block: InputBlockId) -> Result<FetchedInput> {
        let req = pb::InputBlockRequest {
            stream: block.stream,
            seq: block.seq,
        };
        let mut driver = self.driver.clone();
        let r = self.call(
            "the driver",
            async move { driver.fetch_input_block(req).await },
        )?;
        if !r.missing {
            return WireBlock::from_reply(r).into_fetched(block, "the driver");
        }
        let mut last_error = None;
        for address in r.holders.iter().filter(|a| **a != self.address) {
            let mut peer = self.peer(address)?;
            match self.call(address, async move { peer.fetch_input_block(req).await }) {
                Ok(reply) if !reply.missing => {
                    return WireBlock::from_reply(reply).into_fetched(block, address);
                }
                Ok(_) => last_error = Some(format!("{address} no longer holds it")),
                Err(e) => last_error = Some(e.to_string()),
            }
        }
        let reason = match (last_error, r.lost_reason.is_empty()) {
            (Some(e), _) => format!("no executor holding it could serve it: {e}"),
            (None, false) => r.lost_reason,
            (None, true) => "no executor holds a copy".into(),
        };
        Err(Error::cluster(format!(
            "received block {block} is lost: {reason}"
        )))
    }

    /// Copies block `block`, stored here, to the executor serving at `address`.
    pub(super) fn replicate_input(&self, block: InputBlockId, address: &str) -> Result<()> {
        let ctx = self
            .ctx
            .get()
            .and_then(Weak::upgrade)
            .ok_or(Error::ContextStopped)?;
        let wire = WireBlock::of(&ctx.blocks, block).ok_or_else(|| {
            Error::Internal(format!("received block {block} to copy is not stored here"))
        })??;
        let copy = wire.copy(block);
        let mut peer = self.peer(address)?;
        self.call(address, async move { peer.store_input_block(copy).await })
            .map(|_| ())
    }

    /// Tells the driver about received blocks of stream `stream` (and the streaming layer's
    /// payload); returns once the driver has them.
    pub(super) fn report_input_blocks(
        &self,
        stream: u32,
        blocks: Vec<ReportedBlock>,
        payload: Vec<u8>,
    ) -> Result<()> {
        let report = pb::InputReport {
            executor_id: self.id,
            stream,
            blocks: blocks
                .into_iter()
                .map(|b| pb::ReportedBlock {
                    seq: b.id.seq,
                    records: b.records,
                    holders: b.holders,
                })
                .collect(),
            payload,
        };
        let mut driver = self.driver.clone();
        self.call(
            "the driver",
            async move { driver.report_input(report).await },
        )
        .map(|_| ())
    }

    /// A unary call to `whom`, within the fetch timeout, as a typed error naming `whom`.
    fn call<R>(
        &self,
        whom: &str,
        call: impl std::future::Future<Output = std::result::Result<Response<R>, Status>>
        + Send
        + 'static,
    ) -> Result<R>
    where
        R: Send + 'static,
    {
        let timeout = self.fetch_timeout;
        let reply = run_on(self.rt.handle(), async move {
            tokio::time::timeout(timeout, call).await
        })
        .ok_or(Error::ContextStopped)?;
        match reply {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(s)) => Err(Error::cluster(format!("{whom}: {}", s.message()))),
            Err(_) => Err(Error::cluster(format!(
                "{whom}: no answer within {timeout:?} (spate.executor.heartbeatTimeout)"
            ))),
        }
    }
}

/// `FetchInputBlock` on an executor: a block it holds.
pub(super) async fn serve_input_block(
    service: &ShuffleService,
    r: pb::InputBlockRequest,
) -> std::result::Result<pb::InputBlockReply, Status> {
    let ctx = service.context()?;
    let id = InputBlockId {
        stream: r.stream,
        seq: r.seq,
    };
    tokio::task::spawn_blocking(move || {
        crate::cluster::inputs::serve_block(Arc::clone(&ctx.blocks), id)
    })
    .await
    .map_err(|e| Status::internal(e.to_string()))?
}

/// `StoreInputBlock`: keeps a replica of another executor's received block.
pub(super) async fn store_replica(
    service: &ShuffleService,
    copy: pb::InputBlockCopy,
) -> std::result::Result<pb::Ack, Status> {
    let ctx = service.context()?;
    tokio::task::spawn_blocking(move || {
        let (id, wire) = WireBlock::from_copy(copy);
        wire.store(&ctx.blocks, id, "another executor")
            .map(|()| pb::Ack {})
            .map_err(|e| Status::internal(format!("storing a copy of {id}: {e}")))
    })
    .await
    .map_err(|e| Status::internal(e.to_string()))?
}
