//! The generated gRPC code (from `core/proto/spate.proto`) and how a server is started.

#[allow(missing_docs, clippy::all, rust_2018_idioms)]
pub(crate) mod pb {
    tonic::include_proto!("spate.cluster");
}

/// Serves `routes` on `listener` (bound and non-blocking) from `rt`; `what` names the server
/// in errors.
pub(crate) fn serve(
    rt: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    routes: tonic::service::Routes,
    what: &str,
) -> crate::Result<()> {
    let listener = {
        let _guard = rt.enter();
        tokio::net::TcpListener::from_std(listener)
            .map_err(|e| crate::Error::cluster(format!("{what} socket: {e}")))?
    };
    rt.spawn(
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    Ok(())
}
