//! The `Executor` gRPC service other executors call: map outputs (shuffle fetch), received
//! blocks, and replicas of other executors' received blocks.

use super::*;

/// The `Executor` gRPC service: serves this executor's map outputs and received blocks, and
/// keeps replicas of other executors' received blocks.
pub(super) struct ShuffleService(pub(super) Weak<ExecutorRuntime>);

impl ShuffleService {
    pub(super) fn context(&self) -> std::result::Result<Arc<ContextInner>, Status> {
        self.0
            .upgrade()
            .and_then(|ex| ex.ctx.get().and_then(Weak::upgrade))
            .ok_or_else(|| Status::unavailable("the executor is stopping"))
    }
}

type BlockStream =
    Pin<Box<dyn tokio_stream::Stream<Item = std::result::Result<pb::ShuffleBlock, Status>> + Send>>;

#[tonic::async_trait]
impl pb::executor_server::Executor for ShuffleService {
    type FetchShuffleStream = BlockStream;

    async fn fetch_shuffle(
        &self,
        req: Request<pb::FetchShuffleRequest>,
    ) -> std::result::Result<Response<BlockStream>, Status> {
        let r = req.into_inner();
        let ctx = self.context()?;
        // Encoding is CPU work: off the reactor.
        let blocks = tokio::task::spawn_blocking(move || {
            r.maps
                .iter()
                .map(|&map| {
                    match ctx.shuffles.fetch_encoded(
                        ShuffleId(r.shuffle),
                        map as usize,
                        r.reduce as usize,
                    ) {
                        Some(Ok(frame)) => Ok(pb::ShuffleBlock {
                            map,
                            frame,
                            missing: false,
                        }),
                        None => Ok(pb::ShuffleBlock {
                            map,
                            frame: Vec::new(),
                            missing: true,
                        }),
                        Some(Err(e)) => Err(Status::internal(e.to_string())),
                    }
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(Box::pin(tokio_stream::iter(blocks))))
    }

    async fn fetch_input_block(
        &self,
        req: Request<pb::InputBlockRequest>,
    ) -> std::result::Result<Response<pb::InputBlockReply>, Status> {
        inputs::serve_input_block(self, req.into_inner())
            .await
            .map(Response::new)
    }

    async fn store_input_block(
        &self,
        req: Request<pb::InputBlockCopy>,
    ) -> std::result::Result<Response<pb::Ack>, Status> {
        inputs::store_replica(self, req.into_inner())
            .await
            .map(Response::new)
    }
}
