//! The generated gRPC code (from `core/proto/spate.proto`) and how a server is started.
//!
//! The code is generated ahead of time and kept in `rpc_generated.rs` (included, so rustfmt
//! leaves it as generated): a build then needs neither the protobuf compiler nor the code
//! generator, ~40 crates fewer. The test below regenerates it and fails when the committed
//! copy differs from what `proto/spate.proto` gives; `SPATE_BLESS=1` rewrites it.

#[allow(missing_docs, clippy::all, rust_2018_idioms)]
pub(crate) mod pb {
    include!("rpc_generated.rs");
}

/// `spate.rpc.message.maxSize`: the largest message a cluster process decodes; tonic checks a
/// message's length prefix against it before buffering anything.
pub(crate) fn max_message_size(conf: &crate::Conf) -> crate::Result<usize> {
    Ok(conf.get_size("spate.rpc.message.maxSize")? as usize)
}

/// `spate.rpc.idleTimeout`: how long a server keeps a connection whose peer sends nothing.
pub(crate) fn idle_timeout(conf: &crate::Conf) -> crate::Result<std::time::Duration> {
    Ok(conf
        .get_duration("spate.rpc.idleTimeout")?
        .unwrap_or(std::time::Duration::from_secs(60)))
}

/// Serves `routes` on `listener` (bound and non-blocking) from `rt`, over TLS when `tls` is
/// given; `what` names the server in errors and in the log of refused connections. Connections
/// silent for `idle` are closed; the server pings its peers at a third of it, so live ones are
/// never silent that long (see `super::accept`).
pub(crate) fn serve(
    rt: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    routes: tonic::service::Routes,
    what: &'static str,
    tls: Option<&super::tls::TlsMaterial>,
    idle: std::time::Duration,
) -> crate::Result<()> {
    let _guard = rt.enter();
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| crate::Error::cluster(format!("{what} socket: {e}")))?;
    let ping = idle / 3;
    let server = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(ping))
        .http2_keepalive_timeout(Some(ping))
        .add_routes(routes);
    let log = std::sync::Arc::new(super::tls::Refusals::new(what));
    let accepted = super::accept::accepted(listener, std::sync::Arc::clone(&log), idle);
    match tls {
        Some(tls) => {
            // Our own TLS, not tonic's `tls_config`: a refused handshake is logged
            // (rate-limited) instead of dropped at debug level.
            let incoming = super::tls::incoming(accepted, tls.acceptor()?, log);
            rt.spawn(server.serve_with_incoming(incoming));
        }
        None => {
            use tokio_stream::StreamExt;
            let incoming = tokio_stream::wrappers::ReceiverStream::new(accepted)
                .map(|(conn, _)| Ok::<_, std::io::Error>(conn));
            rt.spawn(server.serve_with_incoming(incoming));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// What `serve` does to every connection it accepts: a server's replies must not wait for
    /// the peer's delayed ACK (~40 ms each: a batch cost ~100 ms on a cluster with them).
    #[test]
    fn accepted_connections_send_small_writes_at_once() {
        use super::super::accept::Accept;
        let rt = super::super::new_runtime("test-accept").unwrap();
        let accepted = rt.block_on(async {
            let mut listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
            listener.accept_one().await.unwrap().0
        });
        assert!(accepted.nodelay().unwrap());
    }

    #[test]
    fn the_committed_rpc_code_is_what_the_proto_file_generates() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let descriptors = protox::compile([root.join("proto/spate.proto")], [root.join("proto")])
            .expect("proto/spate.proto compiles");
        let out = tempfile::tempdir().unwrap();
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(true)
            .out_dir(out.path())
            .compile_fds(descriptors)
            .expect("the code generator runs");
        let generated = std::fs::read_to_string(out.path().join("spate.cluster.rs")).unwrap();
        crate::golden::assert_committed(
            &root.join("src/cluster/rpc_generated.rs"),
            &generated,
            "cargo test -p spate-core --lib rpc",
        );
    }
}
